//! The JSON API of activities and statistics: clients created by a référent, HTTP
//! Basic, scopes, expiry and revocation, cursor pagination, and every response
//! checked against the OpenAPI document the server publishes.

use relais::activites::stats::{self, Filter, Scope};
use relais::activites::{self, Counters, Kind, Report};
use relais::domain::Role;
use serde_json::Value;

use crate::common::{Client, TestApp};

/// Checks `v` against the subset of JSON Schema the document uses (type, enum,
/// properties, required, additionalProperties, items, minimum, maximum); returns
/// the first mismatch.
fn check(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at} : type attendu {types:?}, reçu {v}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at} : {v} hors de l'énumération"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_i64), v.as_i64())
        && n < min
    {
        return Err(format!("{at} : {n} < {min}"));
    }
    if let (Some(max), Some(n)) = (schema.get("maximum").and_then(Value::as_i64), v.as_i64())
        && n > max
    {
        return Err(format!("{at} : {n} > {max}"));
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let k = r.as_str().unwrap_or("");
            if !obj.contains_key(k) {
                return Err(format!("{at} : « {k} » manque"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, val, &format!("{at}.{k}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{at} : « {k} » non décrit")),
                    Some(s @ Value::Object(_)) => check(s, val, &format!("{at}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, x) in list.iter().enumerate() {
            check(items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn response_schema<'a>(doc: &'a Value, path: &str) -> &'a Value {
    &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
}

async fn call(
    c: &mut Client,
    path: &str,
    id: &str,
    secret: &str,
) -> (u16, axum::http::HeaderMap, Value) {
    let basic = data_encoding::BASE64.encode(format!("{id}:{secret}").as_bytes());
    let auth = format!("Basic {basic}");
    let (status, headers, body) = c.get_raw(path, &[("authorization", auth.as_str())]).await;
    (
        status.as_u16(),
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn credentials(page: &str) -> (String, String) {
    let id = crate::common::extract_between(page, "Identifiant : <code>", "</code>").unwrap();
    let secret = crate::common::extract_between(page, "Secret : <code>", "</code>").unwrap();
    (id, secret)
}

fn workshop(date: i64, participants: Vec<i64>, anon: i64) -> Report {
    let mut anonymes = Counters::none();
    anonymes.total = anon;
    anonymes.genre[1] = anon / 2;
    Report {
        kind: Kind::Collectif,
        date,
        duree: 90,
        lieu_type: "a_distance".into(),
        lieu_id: None,
        commune_insee: String::new(),
        materiel: vec!["tablette".into()],
        thematiques: vec!["email".into(), "securite_numerique".into()],
        thematiques_admin: Vec::new(),
        precisions: String::new(),
        tags: Vec::new(),
        notes: String::new(),
        autonomie: String::new(),
        orientation: String::new(),
        titre: "Atelier".into(),
        niveau: "debutant".into(),
        participants,
        anonymes,
        mandat_id: None,
        pass_code: String::new(),
    }
}

crate::both_backends!(
    the_api_answers_its_clients_as_its_description_says,
    |app: TestApp| async move {
        let a = app.structure("Structure API").await;
        let b = app.structure("Autre structure").await;
        let referent = app.member(a, Role::Referent, "referent-api").await;
        let m = app.member(a, Role::Mediateur, "mediateur-api").await;
        let other = app.member(b, Role::Mediateur, "mediateur-autre").await;
        let now = app.clock_now();
        let person = relais::activites::beneficiaires::create(
            app.db(),
            m.id,
            &relais::activites::beneficiaires::Fields {
                prenom: "Nadia".into(),
                nom: "Secret".into(),
                genre: "feminin".into(),
                statut_social: "en_emploi".into(),
                annee_naissance: Some(1980),
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
        let this_month = activites::today(now) / 100;
        let day = this_month * 100 + 1;
        for i in 0..5 {
            let p = if i == 0 { vec![person] } else { Vec::new() };
            activites::record(app.db(), m.id, a, &workshop(day, p, 3 + i), now)
                .await
                .unwrap();
        }
        activites::record(app.db(), other.id, b, &workshop(day, Vec::new(), 50), now)
            .await
            .unwrap();

        // The référent creates two clients: one with both scopes, one for statistics.
        let mut r = app.login(&referent).await;
        let page = r.get(&format!("/structures/{a}/api")).await;
        assert_eq!(page.status, 200);
        let bad = r
            .post(
                &format!("/structures/{a}/api"),
                &[("libelle", ""), ("mois", "30")],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.contains("Cochez au moins une portée."));
        let page = r
            .post(
                &format!("/structures/{a}/api"),
                &[
                    ("libelle", "Tableau de bord"),
                    ("portee", "activites"),
                    ("portee", "statistiques"),
                    ("mois", "12"),
                ],
            )
            .await;
        let (id, secret) = credentials(&page.body);
        let page = r
            .post(
                &format!("/structures/{a}/api"),
                &[
                    ("libelle", "Statistiques seules"),
                    ("portee", "statistiques"),
                    ("mois", "1"),
                ],
            )
            .await;
        let (stats_id, stats_secret) = credentials(&page.body);

        let mut c = app.client();
        let doc: Value = serde_json::from_str(&c.get("/api/v1/openapi.json").await.body).unwrap();
        assert!(
            doc["paths"]["/api/v1/lieux"].is_object(),
            "one document for the whole API"
        );

        // Refusals: no credentials, a wrong secret, a missing scope.
        let (s, h, body) = call(&mut c, "/api/v1/activites", "x", "y").await;
        assert_eq!(s, 401);
        assert!(h.get("www-authenticate").is_some());
        assert!(body["erreur"].is_string());
        let (s, _, _) = call(&mut c, "/api/v1/activites", &id, "pas-le-secret").await;
        assert_eq!(s, 401);
        let (s, _, _) = call(&mut c, "/api/v1/activites", &stats_id, &stats_secret).await;
        assert_eq!(s, 403);
        let (s, _, body) = call(&mut c, "/api/v1/activites?limite=0", &id, &secret).await;
        assert_eq!(s, 400, "{body}");

        // Pages of two by the cursor: every activity of the structure once, no other.
        let mut path = "/api/v1/activites?limite=2".to_owned();
        let mut seen = Vec::new();
        let mut accompaniments = 0;
        loop {
            let (s, h, body) = call(&mut c, &path, &id, &secret).await;
            assert_eq!(s, 200, "{body}");
            assert_eq!(h.get("cache-control").unwrap(), "no-store");
            check(
                response_schema(&doc, "/api/v1/activites"),
                &body,
                "activites",
            )
            .unwrap();
            assert!(!body.to_string().contains("Nadia"), "no name in the API");
            for act in body["activites"].as_array().unwrap() {
                seen.push(act["id"].as_i64().unwrap());
                accompaniments += act["accompagnements"].as_i64().unwrap();
                let g = &act["genres"];
                let sum: i64 = g
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_i64().unwrap())
                    .sum();
                assert_eq!(
                    sum,
                    act["accompagnements"].as_i64().unwrap(),
                    "genres add up"
                );
            }
            match body["suivant"].as_str() {
                Some(next) => path = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        let s = stats::compute(
            app.db(),
            &Filter {
                scope: Scope::Structure(a),
                from: this_month,
                to: this_month,
                kind: None,
                lieu_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(accompaniments, s.totals.accompagnements);
        assert_eq!(accompaniments, 1 + 3 + 4 + 5 + 6 + 7);

        let (st, _, body) = call(&mut c, "/api/v1/statistiques", &stats_id, &stats_secret).await;
        assert_eq!(st, 200, "{body}");
        check(
            response_schema(&doc, "/api/v1/statistiques"),
            &body,
            "statistiques",
        )
        .unwrap();
        assert_eq!(
            body["totaux"]["accompagnements"].as_i64(),
            Some(s.totals.accompagnements)
        );
        assert!(!body.to_string().contains("Secret"), "no name in the API");

        // Revoked or expired: refused.
        let page = r.get(&format!("/structures/{a}/api")).await;
        let cid = crate::common::extract_between(
            &page.body,
            &format!("action=\"/structures/{a}/api/"),
            "/revoquer",
        )
        .unwrap();
        let done = r
            .post(&format!("/structures/{a}/api/{cid}/revoquer"), &[])
            .await;
        assert_eq!(
            done.location(),
            format!("/structures/{a}/api?info=client-revoque")
        );
        let revoked_first = call(&mut c, "/api/v1/statistiques", &stats_id, &stats_secret)
            .await
            .0
            == 401;
        let revoked_second = call(&mut c, "/api/v1/statistiques", &id, &secret).await.0 == 401;
        assert!(
            revoked_first ^ revoked_second,
            "exactly the revoked client is refused"
        );
        let later = relais::api_clients::authenticate(
            app.db(),
            &id,
            &secret,
            "statistiques",
            now + 400 * 86_400,
        )
        .await
        .unwrap();
        assert!(later.is_err(), "expired after its months");
    }
);
