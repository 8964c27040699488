//! The scanner: source bytes to tokens, on demand.

/// Token kinds.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Tk {
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Dot,
    Minus,
    Plus,
    Semicolon,
    Slash,
    Star,
    Bang,
    BangEqual,
    Equal,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Identifier,
    String,
    Number,
    And,
    Class,
    Else,
    False,
    For,
    Fun,
    If,
    Nil,
    Or,
    Print,
    Return,
    Super,
    This,
    True,
    Var,
    While,
    Error,
    Eof,
}

/// A token: its kind, its text (or, for `Error`, the message) and line.
#[derive(Copy, Clone, Debug)]
pub struct Token<'s> {
    pub kind: Tk,
    pub text: &'s [u8],
    pub line: u32,
}

/// Scans a source text.
pub struct Scanner<'s> {
    src: &'s [u8],
    start: usize,
    cur: usize,
    line: u32,
}

impl<'s> Scanner<'s> {
    pub fn new(src: &'s [u8]) -> Self {
        Scanner {
            src,
            start: 0,
            cur: 0,
            line: 1,
        }
    }

    fn peek(&self) -> u8 {
        self.src.get(self.cur).copied().unwrap_or(0)
    }

    fn peek_next(&self) -> u8 {
        self.src.get(self.cur + 1).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.cur >= self.src.len()
    }

    fn advance(&mut self) -> u8 {
        let c = self.src[self.cur];
        self.cur += 1;
        c
    }

    fn matches(&mut self, c: u8) -> bool {
        if !self.at_end() && self.src[self.cur] == c {
            self.cur += 1;
            true
        } else {
            false
        }
    }

    fn make(&self, kind: Tk) -> Token<'s> {
        Token {
            kind,
            text: &self.src[self.start..self.cur],
            line: self.line,
        }
    }

    fn error(&self, msg: &'static str) -> Token<'s> {
        Token {
            kind: Tk::Error,
            text: msg.as_bytes(),
            line: self.line,
        }
    }

    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\r' | b'\t' => self.cur += 1,
                b'\n' => {
                    self.line += 1;
                    self.cur += 1;
                }
                b'/' if self.peek_next() == b'/' => {
                    while self.peek() != b'\n' && !self.at_end() {
                        self.cur += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Token<'s> {
        self.skip_space();
        self.start = self.cur;
        if self.at_end() {
            return self.make(Tk::Eof);
        }
        let c = self.advance();
        if c.is_ascii_alphabetic() || c == b'_' {
            while self.peek().is_ascii_alphanumeric() || self.peek() == b'_' {
                self.cur += 1;
            }
            return self.make(self.keyword());
        }
        if c.is_ascii_digit() {
            while self.peek().is_ascii_digit() {
                self.cur += 1;
            }
            if self.peek() == b'.' && self.peek_next().is_ascii_digit() {
                self.cur += 1;
                while self.peek().is_ascii_digit() {
                    self.cur += 1;
                }
            }
            return self.make(Tk::Number);
        }
        let kind = match c {
            b'(' => Tk::LeftParen,
            b')' => Tk::RightParen,
            b'{' => Tk::LeftBrace,
            b'}' => Tk::RightBrace,
            b';' => Tk::Semicolon,
            b',' => Tk::Comma,
            b'.' => Tk::Dot,
            b'-' => Tk::Minus,
            b'+' => Tk::Plus,
            b'/' => Tk::Slash,
            b'*' => Tk::Star,
            b'!' if self.matches(b'=') => Tk::BangEqual,
            b'!' => Tk::Bang,
            b'=' if self.matches(b'=') => Tk::EqualEqual,
            b'=' => Tk::Equal,
            b'<' if self.matches(b'=') => Tk::LessEqual,
            b'<' => Tk::Less,
            b'>' if self.matches(b'=') => Tk::GreaterEqual,
            b'>' => Tk::Greater,
            b'"' => {
                while self.peek() != b'"' && !self.at_end() {
                    if self.peek() == b'\n' {
                        self.line += 1;
                    }
                    self.cur += 1;
                }
                if self.at_end() {
                    return self.error("Unterminated string.");
                }
                self.cur += 1;
                Tk::String
            }
            _ => return self.error("Unexpected character."),
        };
        self.make(kind)
    }

    fn keyword(&self) -> Tk {
        match &self.src[self.start..self.cur] {
            b"and" => Tk::And,
            b"class" => Tk::Class,
            b"else" => Tk::Else,
            b"false" => Tk::False,
            b"for" => Tk::For,
            b"fun" => Tk::Fun,
            b"if" => Tk::If,
            b"nil" => Tk::Nil,
            b"or" => Tk::Or,
            b"print" => Tk::Print,
            b"return" => Tk::Return,
            b"super" => Tk::Super,
            b"this" => Tk::This,
            b"true" => Tk::True,
            b"var" => Tk::Var,
            b"while" => Tk::While,
            _ => Tk::Identifier,
        }
    }
}
