//! TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30 s steps), written here on top of the
//! RustCrypto `hmac` and `sha1` crates so that the matched time step is known:
//! we remember the last step used and refuse any code at or before it (no replay).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;
/// Codes of the previous and next step are accepted (clock drift of the phone).
const WINDOW: i64 = 1;

/// A new random 160-bit secret, in base32 without padding (32 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let cleaned: String = secret
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(cleaned.as_bytes()).ok()
}

fn code_for_step(key: &[u8], step: i64) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.last()? & 0x0f);
    let bytes: [u8; 4] = digest.get(offset..offset + 4)?.try_into().ok()?;
    let value = u32::from_be_bytes(bytes) & 0x7fff_ffff;
    Some(value % 10u32.pow(DIGITS))
}

/// The code shown by an authenticator at `unix_time`.
pub fn code_at(secret: &str, unix_time: i64) -> Option<String> {
    let key = decode_secret(secret)?;
    code_for_step(&key, unix_time.div_euclid(STEP_SECONDS)).map(|c| format!("{c:06}"))
}

/// Checks `code` against the steps around `now`; returns the matched step when it is
/// later than `last_step` (the caller must then record it atomically).
pub fn verify(secret: &str, code: &str, now: i64, last_step: i64) -> Option<i64> {
    verify_steps(secret, code, now.div_euclid(STEP_SECONDS), last_step)
}

/// The step of a device with `step_seconds` and a known `drift` (in steps) at `now`.
pub fn device_step(now: i64, step_seconds: i64, drift: i64) -> i64 {
    now.div_euclid(step_seconds.max(1)) + drift
}

/// The code of one step (physical cards: tests and resynchronisation).
pub fn code_at_step(secret: &str, step: i64) -> Option<String> {
    let key = decode_secret(secret)?;
    code_for_step(&key, step).map(|c| format!("{c:06}"))
}

/// Whether `secret` is a usable base32 seed (80 bits at least).
pub fn valid_secret(secret: &str) -> bool {
    decode_secret(secret).is_some_and(|k| k.len() >= 10)
}

/// [`verify`] around a given `current` step; the window is always ±1 step, never
/// widened after failures.
pub fn verify_steps(secret: &str, code: &str, current: i64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let key = decode_secret(secret)?;
    let mut matched = None;
    for step in (current - WINDOW)..=(current + WINDOW) {
        // Every candidate is computed, so timing does not tell which step matched.
        let ok = code_for_step(&key, step).is_some_and(|c| c == wanted);
        if ok && step > last_step && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The `otpauth://` URI scanned by authenticator apps.
pub fn otpauth_uri(secret: &str, account: &str) -> String {
    let label: String =
        url::form_urlencoded::byte_serialize(format!("Relais:{account}").as_bytes()).collect();
    format!(
        "otpauth://totp/{label}?secret={secret}&issuer=Relais&algorithm=SHA1&digits=6&period=30"
    )
}

/// The URI as an SVG QR code, to inline in a page.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// The secret in groups of four, easier to type.
pub fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA1 secret "12345678901234567890", last 6 digits.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc6238_vectors() {
        assert_eq!(code_at(RFC_SECRET, 59).unwrap(), "287082");
        assert_eq!(code_at(RFC_SECRET, 1_111_111_109).unwrap(), "081804");
        assert_eq!(code_at(RFC_SECRET, 1_234_567_890).unwrap(), "005924");
        assert_eq!(code_at(RFC_SECRET, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn replay_and_window() {
        let s = generate_secret();
        let now = 1_800_000_000;
        let code = code_at(&s, now).unwrap();
        let step = verify(&s, &code, now, 0).unwrap();
        assert_eq!(verify(&s, &code, now, step), None, "replayed code refused");
        assert!(
            verify(&s, &code, now + 30, 0).is_some(),
            "one step of drift accepted"
        );
        assert_eq!(verify(&s, &code, now + 90, 0), None, "old code refused");
        assert_eq!(verify(&s, "12345", now, 0), None);
    }

    #[test]
    fn qr_renders() {
        let svg = qr_svg(&otpauth_uri("ABCD", "a@b.fr")).unwrap();
        assert!(svg.contains("<svg"));
    }
}
