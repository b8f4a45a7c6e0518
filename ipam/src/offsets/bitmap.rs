//! A dense bit per offset, for spaces small enough that one bit per value is cheap
//! (at most [`super::DENSE_LIMIT`] values). It never grows after construction.

/// One bit per offset in `0..len`; a set bit means allocated.
#[derive(Debug, Clone)]
pub(super) struct Bitmap {
    words: Vec<u64>,
    len: usize,
    used: usize,
}

impl Bitmap {
    /// An empty bitmap of `len` offsets.
    pub(super) fn new(len: usize) -> Self {
        Bitmap {
            words: vec![0; len.div_ceil(64)],
            len,
            used: 0,
        }
    }

    pub(super) fn used(&self) -> usize {
        self.used
    }

    pub(super) fn contains(&self, offset: usize) -> bool {
        offset < self.len && self.words[offset / 64] & (1 << (offset % 64)) != 0
    }

    /// Sets the bit; false if it was already set or is past the end.
    pub(super) fn insert(&mut self, offset: usize) -> bool {
        if offset >= self.len {
            return false;
        }
        let (word, mask) = (offset / 64, 1u64 << (offset % 64));
        if self.words[word] & mask != 0 {
            return false;
        }
        self.words[word] |= mask;
        self.used += 1;
        true
    }

    /// Clears the bit; false if it was clear or is past the end.
    pub(super) fn remove(&mut self, offset: usize) -> bool {
        if offset >= self.len {
            return false;
        }
        let (word, mask) = (offset / 64, 1u64 << (offset % 64));
        if self.words[word] & mask == 0 {
            return false;
        }
        self.words[word] &= !mask;
        self.used -= 1;
        true
    }

    /// The lowest clear offset in `from..to` (`to` clamped to the length), a word at a time.
    pub(super) fn first_free(&self, from: usize, to: usize) -> Option<usize> {
        let to = to.min(self.len);
        let mut offset = from;
        while offset < to {
            let word = offset / 64;
            // Treat the bits below `offset` in this word as taken so they are skipped.
            let below = (1u64 << (offset % 64)) - 1;
            let taken = self.words[word] | below;
            if taken != u64::MAX {
                let found = word * 64 + taken.trailing_ones() as usize;
                return (found < to).then_some(found);
            }
            offset = (word + 1) * 64;
        }
        None
    }

    /// Set offsets in ascending order.
    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .filter(|(_, word)| **word != 0)
            .flat_map(|(index, word)| {
                let mut rest = *word;
                std::iter::from_fn(move || {
                    if rest == 0 {
                        return None;
                    }
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    Some(index * 64 + bit)
                })
            })
    }
}
