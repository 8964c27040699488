//! The bytecode verifier: what lets the interpreter read operands and
//! stack slots without bounds checks.
//!
//! Every function the compiler finishes is verified before its heap
//! object exists (`compiler::end_fn`). The verifier walks every path
//! through the chunk from its first byte, as the interpreter would,
//! tracking the stack depth (values above the frame's slot 0, the callee
//! included) at each instruction it reaches, and checks that:
//!
//! - every reached instruction is a known opcode whose operands lie inside
//!   the code, and every path ends in `RETURN` (no instruction falls or
//!   jumps past the end; a jump's target is inside the code);
//! - a constant operand is inside the constants, a string where a name is
//!   expected and a function for `CLOSURE` (whose capture operands are
//!   then read, as many as the function has upvalues);
//! - a local slot is below the depth (the slot holds a value the function
//!   pushed; a closure may capture the slot it is pushed to), an upvalue index below the function's upvalue count, a
//!   global index below the number of globals named so far;
//! - no instruction pops below slot 0, and two paths that meet agree on
//!   the depth.
//!
//! It returns the largest depth reached: a call is made only if the
//! callee's slot 0 plus that depth fits the value stack
//! (`vm::Vm::call`), so no instruction of the callee writes past it.
//! Instructions the walk never reaches (code after a `return`) are never
//! executed either.

use crate::compiler::op;

/// What the verifier needs to know of a constant.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Const {
    String,
    /// A function with this many upvalues.
    Function(usize),
    Other,
}

/// The facts about a chunk the verifier checks it against.
pub struct Chunk<'a> {
    pub code: &'a [u8],
    pub arity: usize,
    pub upvalues: usize,
    pub constants: &'a [Const],
    /// Globals named so far (every global index must be below).
    pub globals: usize,
}

/// Verifies `chunk`; its largest stack depth, or what is wrong.
pub fn verify(chunk: &Chunk<'_>) -> Result<usize, String> {
    let code = chunk.code;
    let mut depth_at: Vec<Option<u32>> = vec![None; code.len()];
    let mut work = vec![(0usize, chunk.arity as u32 + 1)];
    let mut max = chunk.arity as u32 + 1;
    while let Some((pc, d)) = work.pop() {
        let at = pc;
        match depth_at.get(at) {
            None => return Err(format!("execution reaches offset {at}, past the end")),
            Some(Some(seen)) if *seen == d => continue,
            Some(Some(seen)) => {
                return Err(format!(
                    "offset {at}: depth {d} on one path, {seen} on another"
                ))
            }
            Some(None) => depth_at[at] = Some(d),
        }
        let byte = |i: usize| -> Result<u8, String> {
            code.get(pc + i)
                .copied()
                .ok_or_else(|| format!("offset {at}: operand past the end"))
        };
        let short = |i: usize| -> Result<usize, String> {
            Ok((byte(i)? as usize) << 8 | byte(i + 1)? as usize)
        };
        let need = |n: u32| -> Result<(), String> {
            if d < n {
                Err(format!("offset {at}: pops {n} of {d} values"))
            } else {
                Ok(())
            }
        };
        let constant =
            |k: u8| -> Result<Const, String> {
                chunk.constants.get(k as usize).copied().ok_or_else(|| {
                    format!("offset {at}: constant {k} of {}", chunk.constants.len())
                })
            };
        let string = |k: u8| -> Result<(), String> {
            match constant(k)? {
                Const::String => Ok(()),
                c => Err(format!("offset {at}: constant {k} is {c:?}, not a string")),
            }
        };
        let global = |g: usize| -> Result<(), String> {
            if g < chunk.globals {
                Ok(())
            } else {
                Err(format!("offset {at}: global {g} of {}", chunk.globals))
            }
        };
        // (length, depth after, falls through to the next instruction)
        let (len, after, falls): (usize, u32, bool) = match byte(0)? {
            op::CONSTANT => {
                constant(byte(1)?)?;
                (2, d + 1, true)
            }
            op::NIL | op::TRUE | op::FALSE => (1, d + 1, true),
            op::POP | op::PRINT | op::CLOSE_UPVALUE => {
                need(1)?;
                (1, d - 1, true)
            }
            op::GET_LOCAL | op::SET_LOCAL => {
                let s = byte(1)? as u32;
                if s >= d {
                    return Err(format!("offset {at}: local {s} at depth {d}"));
                }
                let get = byte(0)? == op::GET_LOCAL;
                (2, if get { d + 1 } else { d }, true)
            }
            op::GET_GLOBAL => {
                global(short(1)?)?;
                (3, d + 1, true)
            }
            op::DEFINE_GLOBAL => {
                global(short(1)?)?;
                need(1)?;
                (3, d - 1, true)
            }
            op::SET_GLOBAL => {
                global(short(1)?)?;
                need(1)?;
                (3, d, true)
            }
            op::GET_UPVALUE | op::SET_UPVALUE => {
                let i = byte(1)? as usize;
                if i >= chunk.upvalues {
                    return Err(format!("offset {at}: upvalue {i} of {}", chunk.upvalues));
                }
                if byte(0)? == op::GET_UPVALUE {
                    (2, d + 1, true)
                } else {
                    need(1)?;
                    (2, d, true)
                }
            }
            op::GET_PROPERTY => {
                string(byte(1)?)?;
                need(1)?;
                (2, d, true)
            }
            op::SET_PROPERTY | op::GET_SUPER | op::METHOD => {
                string(byte(1)?)?;
                need(2)?;
                (2, d - 1, true)
            }
            op::EQUAL
            | op::GREATER
            | op::LESS
            | op::ADD
            | op::SUBTRACT
            | op::MULTIPLY
            | op::DIVIDE
            | op::INHERIT => {
                need(2)?;
                (1, d - 1, true)
            }
            op::NOT | op::NEGATE => {
                need(1)?;
                (1, d, true)
            }
            op::JUMP => {
                work.push((pc + 3 + short(1)?, d));
                (3, d, false)
            }
            op::JUMP_IF_FALSE => {
                need(1)?;
                work.push((pc + 3 + short(1)?, d));
                (3, d, true)
            }
            op::LOOP => {
                let target = (pc + 3)
                    .checked_sub(short(1)?)
                    .ok_or_else(|| format!("offset {at}: loop before the start"))?;
                work.push((target, d));
                (3, d, false)
            }
            op::CALL => {
                let argc = byte(1)? as u32;
                need(argc + 1)?;
                (2, d - argc, true)
            }
            op::INVOKE => {
                string(byte(1)?)?;
                let argc = byte(2)? as u32;
                need(argc + 1)?;
                (3, d - argc, true)
            }
            op::SUPER_INVOKE => {
                string(byte(1)?)?;
                let argc = byte(2)? as u32;
                need(argc + 2)?;
                (3, d - argc - 1, true)
            }
            op::CLOSURE => {
                let k = byte(1)?;
                let Const::Function(n) = constant(k)? else {
                    return Err(format!("offset {at}: constant {k} is not a function"));
                };
                for u in 0..n {
                    let (is_local, index) = (byte(2 + 2 * u)?, byte(3 + 2 * u)? as usize);
                    // The closure is pushed before it captures: a local
                    // function captures its own slot, at depth `d`.
                    let ok = match is_local {
                        1 => index <= d as usize,
                        0 => index < chunk.upvalues,
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("offset {at}: capture {is_local} {index}"));
                    }
                }
                (2 + 2 * n, d + 1, true)
            }
            op::RETURN => {
                need(1)?;
                (1, d - 1, false)
            }
            op::CLASS => {
                string(byte(1)?)?;
                byte(2)?;
                (3, d + 1, true)
            }
            other => return Err(format!("offset {at}: unknown opcode {other}")),
        };
        max = max.max(after);
        if falls {
            work.push((pc + len, after));
        }
    }
    Ok(max as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(code: &[u8]) -> Chunk<'_> {
        Chunk {
            code,
            arity: 0,
            upvalues: 0,
            constants: &[Const::Other, Const::String],
            globals: 1,
        }
    }

    #[test]
    fn a_straight_chunk_has_its_depth() {
        let code = [op::CONSTANT, 0, op::CONSTANT, 0, op::ADD, op::RETURN];
        assert_eq!(verify(&chunk(&code)), Ok(3));
    }

    #[test]
    fn branches_must_agree_and_stay_inside() {
        // if (c) push 1 more on one side only: the paths disagree.
        let code = [op::TRUE, op::JUMP_IF_FALSE, 0, 1, op::NIL, op::RETURN];
        assert!(verify(&chunk(&code)).is_err());
        let code = [op::NIL, op::JUMP, 0, 9, op::RETURN];
        assert!(verify(&chunk(&code)).is_err(), "jump past the end");
        let code = [op::NIL, op::POP];
        assert!(verify(&chunk(&code)).is_err(), "falls off the end");
        let code = [op::LOOP, 0, 4];
        assert!(verify(&chunk(&code)).is_err(), "loop before the start");
    }

    #[test]
    fn operands_are_checked() {
        let bad: [&[u8]; 7] = [
            &[op::CONSTANT, 2, op::RETURN],
            &[op::GET_PROPERTY, 0, op::RETURN],
            &[op::GET_LOCAL, 1, op::RETURN],
            &[op::GET_GLOBAL, 0, 1, op::RETURN],
            &[op::GET_UPVALUE, 0, op::RETURN],
            &[op::CLOSURE, 0, op::RETURN],
            &[op::POP, op::POP, op::NIL, op::RETURN],
        ];
        for code in bad {
            assert!(verify(&chunk(code)).is_err(), "{code:?}");
        }
        let good: &[u8] = &[op::GET_LOCAL, 0, op::GET_PROPERTY, 1, op::RETURN];
        assert_eq!(verify(&chunk(good)), Ok(2));
    }
}
