//! Profile §2: the bucket table, samples counted by (stack, type, slot
//! size, rate).

use std::collections::HashMap;

/// One allocation site's samples.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    /// Return addresses, innermost first, as captured (profile §1).
    pub(crate) stack: Box<[usize]>,
    /// The type's index in the heap's type table.
    pub(crate) ty: u32,
    /// The slot size of each object, in bytes.
    pub(crate) size: u64,
    /// The rate the samples were taken at.
    pub(crate) rate: u64,
    /// Samples taken.
    pub(crate) allocs: u64,
    /// Samples whose object the sweep has freed.
    pub(crate) frees: u64,
}

type Key = (Box<[usize]>, u32, u64, u64);

/// The buckets, and an index from key to bucket. Buckets are never removed:
/// a profile record names its bucket by position.
#[derive(Default)]
pub(crate) struct Buckets {
    index: HashMap<Key, usize>,
    list: Vec<Bucket>,
}

impl Buckets {
    pub(crate) fn record_alloc(
        &mut self,
        stack: Box<[usize]>,
        ty: u32,
        size: u64,
        rate: u64,
    ) -> usize {
        let key = (stack, ty, size, rate);
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.list.len();
                self.list.push(Bucket {
                    stack: key.0.clone(),
                    ty,
                    size,
                    rate,
                    allocs: 0,
                    frees: 0,
                });
                self.index.insert(key, i);
                i
            }
        };
        self.list[i].allocs += 1;
        i
    }

    pub(crate) fn record_free(&mut self, i: usize) {
        let b = &mut self.list[i];
        debug_assert!(b.frees < b.allocs, "profile §3: a sample freed twice");
        b.frees += 1;
    }

    pub(crate) fn list(&self) -> &[Bucket] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bucket_per_key() {
        let mut b = Buckets::default();
        let s: Box<[usize]> = vec![1, 2, 3].into();
        let a = b.record_alloc(s.clone(), 7, 32, 512);
        assert_eq!(b.record_alloc(s.clone(), 7, 32, 512), a);
        let other = b.record_alloc(s.clone(), 8, 32, 512);
        assert_ne!(other, a, "another type is another bucket");
        assert_ne!(b.record_alloc(s, 7, 48, 512), a, "another size too");
        b.record_free(a);
        assert_eq!((b.list()[a].allocs, b.list()[a].frees), (2, 1));
    }
}
