//! [`Map`]: a JSON object as a vector of entries kept sorted by key.
//!
//! Usage events are small objects (a handful of top-level fields, 5–20 properties), built once
//! per message, read a few times by key, iterated once in key order by the encoder, and freed.
//! For that life a sorted vector beats a `BTreeMap`: one allocation per object (a `BTreeMap` of
//! the same size is a node allocation plus a sort-and-bulk-load or a search-and-split per key),
//! iteration and drop walk contiguous memory, and a lookup is a binary search over a few
//! entries. Keys are unique and sorted, which is also the order Bento (Go's `encoding/json`)
//! prints them in, so iteration order is output order.
//!
//! The API is the part of `BTreeMap`'s this crate uses, with the same meaning, so code reads as
//! it would with the standard map. Inserting keys out of order into a large object is O(n) per
//! key; objects are built from sorted or collected entries ([`FromIterator`] sorts once), and
//! only mappings that add many keys one by one to a huge object would notice.

use std::cmp::Ordering;

use super::Value;

/// Key order (byte order, as `str`'s `Ord`), deciding on the first byte when it differs, as it
/// does for most pairs of field names: sorting a parsed object and looking fields up were a
/// `memcmp` call per comparison, 6 % of a processor thread's instructions.
#[inline]
fn key_cmp(a: &str, b: &str) -> Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

#[derive(Clone, Default, PartialEq)]
pub struct Map {
    /// Sorted by key, keys unique.
    entries: Vec<(String, Value)>,
}

impl Map {
    pub const fn new() -> Map {
        Map {
            entries: Vec::new(),
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| key_cmp(k, key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Set `key`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        // Appending in key order (the common way objects are built) skips the search.
        if self
            .entries
            .last()
            .is_none_or(|(k, _)| key_cmp(k, &key) == Ordering::Less)
        {
            self.entries.push((key, value));
            return None;
        }
        match self.find(key.as_str()) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn entry(&mut self, key: String) -> Entry<'_> {
        match self.find(key.as_str()) {
            Ok(i) => Entry {
                map: self,
                at: i,
                key: None,
            },
            Err(i) => Entry {
                map: self,
                at: i,
                key: Some(key),
            },
        }
    }

    /// Entries in key order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&String, &Value)> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&String, &mut Value)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = Value> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }
}

/// A slot for `key`, as `BTreeMap::entry` gives.
pub struct Entry<'m> {
    map: &'m mut Map,
    at: usize,
    /// `Some`: the key is absent and goes in at `at`.
    key: Option<String>,
}

impl<'m> Entry<'m> {
    pub fn or_insert(self, default: Value) -> &'m mut Value {
        self.or_insert_with(|| default)
    }

    pub fn or_insert_with(self, default: impl FnOnce() -> Value) -> &'m mut Value {
        if let Some(key) = self.key {
            self.map.entries.insert(self.at, (key, default()));
        }
        &mut self.map.entries[self.at].1
    }
}

impl FromIterator<(String, Value)> for Map {
    /// Sorts once; of duplicate keys the last one wins (as repeated inserts, and JSON
    /// parsers, have it).
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Map {
        let mut entries: Vec<(String, Value)> = iter.into_iter().collect();
        if !entries
            .windows(2)
            .all(|w| key_cmp(&w[0].0, &w[1].0) == Ordering::Less)
        {
            // Stable: equal keys keep their input order, so the last of a run is the last given
            // and, swapped forward run by run, its value is the one kept.
            entries.sort_by(|a, b| key_cmp(&a.0, &b.0));
            // `later` goes; its value moves into the kept (earlier) entry first.
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(&mut later.1, &mut kept.1);
                }
                same
            });
        }
        Map { entries }
    }
}

impl Extend<(String, Value)> for Map {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'m> IntoIterator for &'m Map {
    type Item = (&'m String, &'m Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'m, (String, Value)>,
        fn(&'m (String, Value)) -> (&'m String, &'m Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<'m> IntoIterator for &'m mut Map {
    type Item = (&'m String, &'m mut Value);
    type IntoIter = std::iter::Map<
        std::slice::IterMut<'m, (String, Value)>,
        fn(&'m mut (String, Value)) -> (&'m String, &'m mut Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Map;
    use crate::document::Value;

    fn keys(m: &Map) -> Vec<&str> {
        m.keys().map(String::as_str).collect()
    }

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut m = Map::new();
        for (k, v) in [("b", 1), ("a", 2), ("c", 3), ("a", 4)] {
            m.insert(k.into(), Value::Int(v));
        }
        assert_eq!(keys(&m), ["a", "b", "c"]);
        assert_eq!(m.get("a"), Some(&Value::Int(4)));
        assert_eq!(m.insert("b".into(), Value::Null), Some(Value::Int(1)));
        assert_eq!(m.remove("b"), Some(Value::Null));
        assert_eq!(m.remove("b"), None);
        assert_eq!(keys(&m), ["a", "c"]);
        *m.entry("bb".into()).or_insert(Value::Int(0)) = Value::Int(9);
        *m.entry("a".into()).or_insert(Value::Int(0)) = Value::Int(7);
        assert_eq!(keys(&m), ["a", "bb", "c"]);
        assert_eq!(m.get("a"), Some(&Value::Int(7)));
        assert_eq!(m.get("bb"), Some(&Value::Int(9)));
        assert!(m.contains_key("c") && !m.contains_key("d"));
    }

    /// The first-byte shortcut orders keys exactly as `str` does (prefixes, empty keys,
    /// multi-byte characters included).
    #[test]
    fn key_order_is_str_order() {
        let keys = [
            "", "a", "ab", "abc", "b", "ba", "é", "éa", "z", "Z", "_", "a\u{0}",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(super::key_cmp(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn collecting_sorts_and_the_last_duplicate_wins() {
        let m: Map = [("z", 1), ("a", 2), ("m", 3), ("a", 4), ("z", 5)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::Int(v)))
            .collect();
        assert_eq!(keys(&m), ["a", "m", "z"]);
        assert_eq!(m.get("a"), Some(&Value::Int(4)));
        assert_eq!(m.get("z"), Some(&Value::Int(5)));
        let same: Map = m.clone().into_iter().collect();
        assert_eq!(same, m);
    }
}
