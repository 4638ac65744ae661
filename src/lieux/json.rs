//! Streaming reading of the JSON files of places: the array of places (at the top
//! of the file, or under a key of the top object such as GeoJSON's `features`) is
//! read one element at a time, so a file of millions of elements never exists as
//! one tree in memory. Parse errors are told in French with their line and column.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::FileError;

/// Calls `f(position, element)` for each element of the array at the top of
/// `bytes` (`key` = `None`) or under `key` of the top object; positions start at 1.
pub fn each_element(
    bytes: &[u8],
    key: Option<&'static str>,
    f: &mut dyn FnMut(usize, Value),
) -> Result<(), FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut elements = Elements { f, n: 0 };
    let found = match key {
        None => serde::Deserializer::deserialize_seq(&mut de, &mut elements)
            .map(|()| true)
            .map_err(|e| french(&e, "un tableau JSON de lieux est attendu"))?,
        Some(key) => serde::Deserializer::deserialize_map(
            &mut de,
            Under {
                key,
                elements: &mut elements,
            },
        )
        .map_err(|e| french(&e, "un objet JSON est attendu"))?,
    };
    de.end().map_err(|e| {
        FileError::Unreadable(format!(
            "un seul document JSON est attendu : contenu en trop après sa fin (ligne {}, colonne {})",
            e.line(),
            e.column()
        ))
    })?;
    if !found {
        return Err(FileError::Unreadable(format!(
            "la clé « {} » est absente du fichier",
            key.unwrap_or("")
        )));
    }
    Ok(())
}

/// A serde_json error in French, with where it is.
fn french(e: &serde_json::Error, wrong_shape: &str) -> FileError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "lecture impossible",
        Category::Syntax => "syntaxe JSON incorrecte",
        Category::Eof => "fichier JSON incomplet (fin de fichier inattendue)",
        Category::Data => wrong_shape,
    };
    FileError::Unreadable(format!(
        "{what} (ligne {}, colonne {})",
        e.line(),
        e.column()
    ))
}

struct Elements<'f> {
    f: &'f mut dyn FnMut(usize, Value),
    n: usize,
}

impl<'de> Visitor<'de> for &mut Elements<'_> {
    type Value = ();
    fn expecting(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("un tableau")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            self.n += 1;
            (self.f)(self.n, v);
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut Elements<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// The top object, whose `key` holds the array.
struct Under<'a, 'f> {
    key: &'static str,
    elements: &'a mut Elements<'f>,
}

impl<'de> Visitor<'de> for Under<'_, '_> {
    type Value = bool;
    fn expecting(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("un objet")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(k) = map.next_key::<String>()? {
            if k == self.key && !found {
                map.next_value_seed(&mut *self.elements)?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_one_by_one_and_errors_in_french() {
        let mut seen = Vec::new();
        each_element(br#"[{"a":1}, 2, "x"]"#, None, &mut |n, v| seen.push((n, v))).unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1], (2, Value::from(2)));
        let mut n = 0;
        each_element(
            br#"{"type":"FeatureCollection","features":[{},{}],"x":{"y":[1]}}"#,
            Some("features"),
            &mut |_, _| n += 1,
        )
        .unwrap();
        assert_eq!(n, 2);
        let e = each_element(b"[{\"a\":1},\n{", None, &mut |_, _| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            "fichier illisible : fichier JSON incomplet (fin de fichier inattendue) (ligne 2, colonne 1)"
        );
        let e = each_element(b"{\"a\":1}", None, &mut |_, _| {}).unwrap_err();
        assert!(
            e.to_string()
                .contains("un tableau JSON de lieux est attendu"),
            "{e}"
        );
        let e = each_element(b"[1] [2]", None, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("un seul document JSON"), "{e}");
        let e = each_element(b"{\"b\":[]}", Some("features"), &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("« features » est absente"), "{e}");
    }
}
