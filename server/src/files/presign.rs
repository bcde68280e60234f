//! S3 POST policies signed with AWS Signature Version 4: what lets a browser send one file
//! straight to the bucket under one key, of one size range and one type, for a few minutes.
//! `object_store` signs requests but makes no POST policies, so they are built here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// The signing algorithm of every field and policy here.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What signs POST policies for one bucket: the store's own endpoint, region and static
/// credentials, read from the same `AWS_*` settings the S3 client uses.
#[derive(Clone)]
pub(crate) struct PostSigner {
    /// Where the browser posts the form: the bucket's URL, ending in `/`.
    url: String,
    bucket: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    /// A temporary credential's session token, which the form must carry too.
    token: Option<String>,
}

impl std::fmt::Debug for PostSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "PostSigner({} in {})", self.url, self.region)
    }
}

/// A signed form: the browser posts `fields` in this order, then the file as the last
/// field (`file`), to `url`.
#[derive(Debug, Serialize)]
pub(crate) struct PresignedPost {
    pub(crate) url: String,
    pub(crate) fields: Vec<(String, String)>,
}

/// What one form may upload.
pub(crate) struct PostRule<'a> {
    /// The object's full key in the bucket.
    pub(crate) key: &'a str,
    pub(crate) content_type: &'a str,
    /// The body's size must lie in `min..=max` bytes (S3 refuses it otherwise).
    pub(crate) min: u64,
    pub(crate) max: u64,
    /// How long the form may be used.
    pub(crate) valid_for: Duration,
}

impl PostSigner {
    /// A signer for `bucket` from an S3 client's settings, or `None` when they hold no static
    /// credentials (instance or web-identity credentials are fetched by the client at run
    /// time, and cannot sign a policy here).
    pub(crate) fn from_builder(builder: &object_store::aws::AmazonS3Builder) -> Option<PostSigner> {
        use object_store::aws::AmazonS3ConfigKey as Key;
        let value = |key: Key| {
            builder
                .get_config_value(&key)
                .filter(|value| !value.trim().is_empty())
        };
        let bucket = value(Key::Bucket)?;
        let region = value(Key::Region).unwrap_or_else(|| "us-east-1".to_owned());
        let virtual_hosted = value(Key::VirtualHostedStyleRequest).is_some_and(|v| v == "true");
        let url = match value(Key::Endpoint) {
            // Path-style, as the client addresses it: `http://host:port/bucket/`.
            Some(endpoint) if !virtual_hosted => {
                format!("{}/{bucket}/", endpoint.trim_end_matches('/'))
            }
            // Virtual-hosted: the endpoint already names the bucket's host.
            Some(endpoint) => format!("{}/", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
        };
        Some(PostSigner {
            url,
            bucket,
            region,
            access_key_id: value(Key::AccessKeyId)?,
            secret_access_key: value(Key::SecretAccessKey)?,
            token: value(Key::Token),
        })
    }

    /// The form that uploads one object under `rule`, signed at `now`.
    pub(crate) fn sign(&self, rule: &PostRule<'_>, now: SystemTime) -> PresignedPost {
        let stamp = UtcStamp::of(now);
        let day = stamp.day();
        let date = stamp.basic();
        let credential = format!(
            "{}/{day}/{}/s3/aws4_request",
            self.access_key_id, self.region
        );
        let expiration = UtcStamp::of(now + rule.valid_for).extended();
        let mut conditions = vec![
            serde_json::json!({ "bucket": self.bucket }),
            serde_json::json!(["eq", "$key", rule.key]),
            serde_json::json!(["eq", "$Content-Type", rule.content_type]),
            serde_json::json!(["content-length-range", rule.min, rule.max]),
            serde_json::json!({ "x-amz-algorithm": ALGORITHM }),
            serde_json::json!({ "x-amz-credential": credential }),
            serde_json::json!({ "x-amz-date": date }),
        ];
        if let Some(token) = &self.token {
            conditions.push(serde_json::json!({ "x-amz-security-token": token }));
        }
        let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signature = hex(&hmac(&self.signing_key(&day), policy.as_bytes()));
        let mut fields = vec![
            ("key".to_owned(), rule.key.to_owned()),
            ("Content-Type".to_owned(), rule.content_type.to_owned()),
            ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
            ("x-amz-credential".to_owned(), credential),
            ("x-amz-date".to_owned(), date),
        ];
        if let Some(token) = &self.token {
            fields.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        fields.push(("policy".to_owned(), policy));
        fields.push(("x-amz-signature".to_owned(), signature));
        PresignedPost {
            url: self.url.clone(),
            fields,
        }
    }

    /// The SigV4 signing key of `day` (`YYYYMMDD`) for S3 in the signer's region.
    fn signing_key(&self, day: &str) -> [u8; 32] {
        signing_key(&self.secret_access_key, day, &self.region, "s3")
    }
}

fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> [u8; 32] {
    let key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let key = hmac(&key, region.as_bytes());
    let key = hmac(&key, service.as_bytes());
    hmac(&key, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A UTC time to the second, in the forms SigV4 writes.
struct UtcStamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
}

impl UtcStamp {
    fn of(at: SystemTime) -> UtcStamp {
        let secs = at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let of_day = secs % 86_400;
        UtcStamp {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
        }
    }

    /// `YYYYMMDD`: the credential's scope.
    fn day(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYYMMDDTHHMMSSZ`: `x-amz-date`.
    fn basic(&self) -> String {
        format!(
            "{}T{:02}{:02}{:02}Z",
            self.day(),
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`: the policy's `expiration`.
    fn extended(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_is_the_one_of_the_aws_documentation() {
        // "Examples of how to derive a signing key for Signature Version 4" (AWS).
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn dates_are_written_as_sigv4_wants_them() {
        let at = UNIX_EPOCH + Duration::from_secs(1_451_347_200 + 3661); // 2015-12-29 01:01:01
        let stamp = UtcStamp::of(at);
        assert_eq!(stamp.day(), "20151229");
        assert_eq!(stamp.basic(), "20151229T010101Z");
        assert_eq!(stamp.extended(), "2015-12-29T01:01:01Z");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn a_form_binds_key_type_and_size_and_ends_with_its_signature() {
        let signer = PostSigner {
            url: "http://127.0.0.1:9000/bucket/".into(),
            bucket: "bucket".into(),
            region: "us-east-1".into(),
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            token: None,
        };
        let rule = PostRule {
            key: "app/.ferrex-upload-1",
            content_type: "text/plain",
            min: 5,
            max: 5,
            valid_for: Duration::from_secs(600),
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_451_347_200);
        let form = signer.sign(&rule, at);
        let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "Content-Type",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "policy",
                "x-amz-signature"
            ]
        );
        let policy = &form.fields[5].1;
        let policy = base64::engine::general_purpose::STANDARD
            .decode(policy)
            .expect("the policy is base64");
        let policy: serde_json::Value =
            serde_json::from_slice(&policy).expect("the policy is JSON");
        assert_eq!(policy["expiration"], "2015-12-29T00:10:00Z");
        let conditions = policy["conditions"].to_string();
        for part in [
            r#"["eq","$key","app/.ferrex-upload-1"]"#,
            r#"["eq","$Content-Type","text/plain"]"#,
            r#"["content-length-range",5,5]"#,
            r#"{"x-amz-credential":"AKID/20151229/us-east-1/s3/aws4_request"}"#,
        ] {
            assert!(conditions.contains(part), "{part} in {conditions}");
        }
        let expected = hex(&hmac(
            &signing_key("secret", "20151229", "us-east-1", "s3"),
            form.fields[5].1.as_bytes(),
        ));
        assert_eq!(form.fields[6].1, expected);
    }
}
