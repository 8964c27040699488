//! Values: NaN-boxed 64-bit words.
//!
//! A number is any double whose bits are not a quiet NaN carrying the
//! tag bits; `nil`, `true` and `false` are quiet NaNs with a small payload;
//! an object is the sign bit and the quiet-NaN bits over the object's
//! address (objects are 8-byte aligned and below 2^48). Every object field
//! that holds a value holds one of these words, so the types that hold
//! values are *traced* types whose `decode` is [`decode`].

use tricolor::raw::ObjRef;

const SIGN: u64 = 1 << 63;
const QNAN: u64 = 0x7ffc_0000_0000_0000;
const TAG_OBJ: u64 = SIGN | QNAN;

/// A Lox value.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct Value(pub u64);

impl Value {
    /// `nil`.
    pub const NIL: Value = Value(QNAN | 1);
    /// `false`.
    pub const FALSE: Value = Value(QNAN | 2);
    /// `true`.
    pub const TRUE: Value = Value(QNAN | 3);

    /// A number.
    #[inline]
    pub fn num(n: f64) -> Value {
        Value(n.to_bits())
    }

    /// A boolean.
    #[inline]
    pub fn bool(b: bool) -> Value {
        if b {
            Value::TRUE
        } else {
            Value::FALSE
        }
    }

    /// An object.
    #[inline]
    pub fn obj(o: ObjRef) -> Value {
        Value(o.addr() as u64 | TAG_OBJ)
    }

    /// Whether this is a number.
    #[inline]
    pub fn is_num(self) -> bool {
        self.0 & QNAN != QNAN
    }

    /// The number (meaningful only if [`is_num`](Self::is_num)).
    #[inline]
    pub fn as_num(self) -> f64 {
        f64::from_bits(self.0)
    }

    /// Whether this is an object.
    #[inline]
    pub fn is_obj(self) -> bool {
        self.0 & TAG_OBJ == TAG_OBJ
    }

    /// The object, if this is one.
    #[inline]
    pub fn as_obj(self) -> Option<ObjRef> {
        if self.is_obj() {
            ObjRef::from_addr((self.0 & !TAG_OBJ) as usize)
        } else {
            None
        }
    }

    /// Whether this is `nil`.
    #[inline]
    pub fn is_nil(self) -> bool {
        self == Value::NIL
    }

    /// Lox truthiness: `nil` and `false` are false, all else true.
    #[inline]
    pub fn is_falsey(self) -> bool {
        self == Value::NIL || self == Value::FALSE
    }

    /// Lox `==`: numbers by value (so NaN is not equal to itself), all else
    /// by identity (strings are interned).
    #[inline]
    pub fn equals(self, other: Value) -> bool {
        if self.is_num() && other.is_num() {
            self.as_num() == other.as_num()
        } else {
            self.0 == other.0
        }
    }
}

/// The object address a stored word carries, if any: the traced types'
/// `decode`. Plain integers stored in value-holding objects (counts,
/// indices) have no tag bits and decode to nothing.
#[inline]
pub fn decode(w: u64) -> Option<usize> {
    if w & TAG_OBJ == TAG_OBJ {
        let p = (w & !TAG_OBJ) as usize;
        (p != 0).then_some(p)
    } else {
        None
    }
}

/// Formats a number as C's `printf("%g")` does (what clox prints).
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // %g: precision P = 6; exponent X of the %e form; fixed if -4 <= X < P.
    let e = format!("{:.5e}", n);
    let (mantissa, exp) = e.split_once('e').expect("exponent");
    let x: i32 = exp.parse().expect("exponent digits");
    if (-4..6).contains(&x) {
        let decimals = (5 - x).max(0) as usize;
        strip_zeros(format!("{:.*}", decimals, n))
    } else {
        let m = strip_zeros(mantissa.to_string());
        let sign = if x < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", x.abs())
    }
}

fn strip_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_printf_g() {
        for (n, s) in [
            (1.0, "1"),
            (-0.0, "-0"),
            (123.456, "123.456"),
            (0.1, "0.1"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e-10, "2.5e-10"),
            (1.0 / 3.0, "0.333333"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(format_number(n), s, "{n}");
        }
    }

    #[test]
    fn boxing_round_trips() {
        assert!(Value::num(1.5).is_num());
        assert!(!Value::NIL.is_num() && !Value::TRUE.is_obj());
        assert!(Value::num(f64::NAN).is_num());
        assert!(!Value::num(f64::NAN).equals(Value::num(f64::NAN)));
        assert_eq!(decode(Value::num(-3.0).0), None);
        assert_eq!(decode(Value::NIL.0), None);
        assert_eq!(decode(42), None);
        assert_eq!(decode(0x1000 | TAG_OBJ), Some(0x1000));
    }
}
