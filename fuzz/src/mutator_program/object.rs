//! The objects a program allocates: their kinds (shapes), the heap types
//! that stand for them, and the canary words that tell a live object from a
//! freed, poisoned or reused one.

use tricolor_collector::{Heap, TypeDescriptor, TypeId};

use super::input::NULL;

/// Elements of a large array: 8 bytes each plus the header, over the 32 KiB
/// largest small object.
const LARGE_ARRAY: u32 = 4100;
/// Bytes of a large byte array.
const LARGE_BYTES: u32 = 40_000;

/// The shape of an object.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Pointer fields 0 and 1, canary in word 2.
    Node,
    /// A node of a header-free type (`TypeDescriptor::header_free`): the
    /// same fields, no header word; its type lives in its span.
    FreeNode,
    /// That many pointer elements.
    Array(u32),
    /// That many bytes; canaries in the first, middle and last words.
    Bytes(u32),
}

impl Kind {
    pub(super) fn decode(kind: u8, len: u8) -> Kind {
        match kind % 8 {
            0..=2 => Kind::Node,
            3 | 4 => Kind::FreeNode,
            5 | 6 if len == NULL => Kind::Array(LARGE_ARRAY),
            5 | 6 => Kind::Array(1 + len as u32 % 16),
            _ if len == NULL => Kind::Bytes(LARGE_BYTES),
            _ => Kind::Bytes(1 + 5 * len as u32),
        }
    }

    pub(super) fn pointer_fields(self) -> usize {
        match self {
            Kind::Node | Kind::FreeNode => 2,
            Kind::Array(n) => n as usize,
            Kind::Bytes(_) => 0,
        }
    }

    fn payload_words(self) -> usize {
        match self {
            Kind::Node | Kind::FreeNode => 3,
            Kind::Array(n) => n as usize,
            Kind::Bytes(n) => (n as usize).div_ceil(8),
        }
    }

    /// The object's bytes: its payload and its header, if any.
    pub(super) fn bytes(self) -> usize {
        let header = usize::from(self != Kind::FreeNode);
        (self.payload_words() + header) * 8
    }

    pub(super) fn is_large(self) -> bool {
        self.bytes() > 32 << 10
    }

    /// The words that hold canaries.
    pub(super) fn canary_words(self) -> Vec<usize> {
        match self {
            Kind::Node | Kind::FreeNode => vec![2],
            Kind::Array(_) => Vec::new(),
            Kind::Bytes(_) => {
                let w = self.payload_words();
                let mut v = vec![0, w / 2, w - 1];
                v.dedup();
                v
            }
        }
    }
}

/// The canary of word `word` of object `id`: never zero, never the poison
/// pattern, never an address.
pub(super) fn canary(id: u32, word: usize) -> u64 {
    0xC0DE_0000_0000_0001 ^ (id as u64) << 24 ^ (word as u64) << 4
}

/// The four types every program uses.
#[derive(Copy, Clone)]
pub(super) struct Types {
    node: TypeId,
    free_node: TypeId,
    array: TypeId,
    bytes: TypeId,
}

impl Types {
    pub(super) fn register(heap: &Heap) -> Types {
        let reg = |d| heap.register_type(d).expect("a valid descriptor");
        Types {
            node: reg(TypeDescriptor::fixed("Node", 3, &[0, 1])),
            free_node: reg(TypeDescriptor::fixed("FreeNode", 3, &[0, 1]).header_free()),
            array: reg(TypeDescriptor::array("Array", 1, &[0])),
            bytes: reg(TypeDescriptor::bytes("Bytes")),
        }
    }

    /// The type and allocation length of `kind`.
    pub(super) fn of(&self, kind: Kind) -> (TypeId, usize) {
        match kind {
            Kind::Node => (self.node, 0),
            Kind::FreeNode => (self.free_node, 0),
            Kind::Array(n) => (self.array, n as usize),
            Kind::Bytes(n) => (self.bytes, n as usize),
        }
    }

    /// The kind a header's shape names, if it names one of these types.
    pub(super) fn kind_of(&self, (ty, len): (TypeId, usize)) -> Option<Kind> {
        let len = u32::try_from(len).ok()?;
        if ty == self.node && len == 0 {
            Some(Kind::Node)
        } else if ty == self.free_node && len == 0 {
            Some(Kind::FreeNode)
        } else if ty == self.array {
            Some(Kind::Array(len))
        } else if ty == self.bytes {
            Some(Kind::Bytes(len))
        } else {
            None
        }
    }
}
