//! Reading the scripts' replies.

use std::collections::BTreeMap;

use redis::Value;

use super::RedisStoreError;

pub(super) fn array(reply: Value, what: &'static str) -> Result<Vec<Value>, RedisStoreError> {
    match reply {
        Value::Array(items) => Ok(items),
        _ => Err(RedisStoreError::UnexpectedReply(what)),
    }
}

pub(super) fn int_at(
    items: &[Value],
    index: usize,
    what: &'static str,
) -> Result<i64, RedisStoreError> {
    match items.get(index) {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err(RedisStoreError::UnexpectedReply(what)),
    }
}

/// The field of the `state` hash holding the session's revision.
pub(super) const REV: &str = "#rev";

/// A revision a script answered as a string (it never does arithmetic on it).
pub(super) fn rev_at(
    items: &[Value],
    index: usize,
    what: &'static str,
) -> Result<u64, RedisStoreError> {
    match items.get(index) {
        Some(Value::BulkString(digits)) => {
            parse_rev(digits).ok_or(RedisStoreError::UnexpectedReply(what))
        }
        _ => Err(RedisStoreError::UnexpectedReply(what)),
    }
}

/// A revision's decimal digits.
fn parse_rev(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// An `HGETALL` reply of the `state` hash (a flat array of name, value, … or a map under
/// RESP3) as its fields and its revision (0 when it has none yet).
pub(super) fn field_map(reply: Value) -> Result<(BTreeMap<String, Vec<u8>>, u64), RedisStoreError> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Array(flat) => {
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((name, value));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => return Err(RedisStoreError::UnexpectedReply("fields")),
    };
    let mut fields = BTreeMap::new();
    let mut rev = 0;
    for (name, value) in pairs {
        let (Value::BulkString(name), Value::BulkString(value)) = (name, value) else {
            return Err(RedisStoreError::UnexpectedReply("fields"));
        };
        let name = String::from_utf8(name)
            .map_err(|_| RedisStoreError::UnexpectedReply("a field name that is not UTF-8"))?;
        if name == REV {
            rev = parse_rev(&value).ok_or(RedisStoreError::UnexpectedReply(
                "a revision that is not a number",
            ))?;
        } else {
            fields.insert(name, value);
        }
    }
    Ok((fields, rev))
}
