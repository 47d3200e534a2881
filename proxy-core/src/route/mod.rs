//! A request read once, by the grammar of BACEN's interfaces (DESIGN §6, "The edges"): the method
//! and path must be exactly one of ICOM's paths ([`spi`]) or one of DICT's OpenAPI 2.12.1
//! operations ([`dict`]); the query only the parameters that operation declares, each once
//! ([`query`]). What comes out, a [`Route`], is the only reading of the request line: the callers
//! stage, the link's budgets, the signer, the forwarder, the verifier and the audit record all
//! take it, and none looks at the raw path again. Anything else is refused (`400 invalidPath` or
//! `invalidRequest`) before a byte is signed or sent.
//!
//! Every parameter of a path (ICOM's `{ispb}` and stream id, DICT's keys and ids) is checked
//! before it is accepted: an ISPB is eight ASCII digits as written (no percent-escape), a DICT
//! parameter decodes to printable text without `/`, `\` or a dot-segment. The path forwarded is
//! the one received, which the grammar has matched segment by segment.

pub mod dict;
mod query;
pub mod spi;

use http::{Method, Uri};

use crate::callers::Permission;
use pix_xmldsig::dsig::Profile;

pub use dict::DictOperation;
pub use query::Query;

/// Why a request line is refused, and whether it was the path or the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The method and path are none of the interface's (`400 invalidPath`).
    #[error("{0}")]
    Path(String),
    /// The query names a parameter the operation does not declare, or one twice, or does not
    /// decode (`400 invalidRequest`).
    #[error("{0}")]
    Query(String),
}

/// Which of BACEN's servers a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The family's own server (ICOM, DICT).
    Main,
    /// DICT's key-check server (`/api-np/v2/`, its own host: DICT's OpenAPI, `checkKeys`).
    KeyCheck,
}

/// What a request asks BACEN for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST /api/v1/in/{ispb}/msgs`: one message, or up to ten as `multipart/mixed`.
    SpiSend,
    /// `GET /api/v1/out/{ispb}/stream/start` and `GET /api/v1/out/{ispb}/stream/{id}` (a
    /// `PI-Pull-Next`): a page of the participant's stream.
    SpiStreamRead,
    /// `DELETE /api/v1/out/{ispb}/stream/{id}`: the stream ended.
    SpiStreamEnd,
    /// `GET /api/v1/in/catalog`: the messages ICOM takes.
    SpiSendCatalog,
    /// `GET /api/v1/out/catalog`: the messages ICOM delivers.
    SpiStreamCatalog,
    /// One of DICT's operations.
    Dict(&'static DictOperation),
}

/// How BACEN's answer to a request is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Not a signed message (ICOM's catalogs, the end of a stream).
    Unsigned,
    /// A page of the stream: a failed verification is a verdict, never a refusal.
    Stream,
    /// Anything else: a failed verification is `502`.
    Signed,
}

/// Which of BACEN's limits of requests in flight a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetSide {
    /// ICOM's sends (`/msgs`).
    Send,
    /// ICOM's stream reads.
    Read,
}

/// A request line read by the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The family.
    pub profile: Profile,
    /// The method.
    pub method: Method,
    /// What it asks for.
    pub operation: Operation,
    /// The participant the path names (ICOM's `{ispb}`); DICT's paths name none.
    pub path_ispb: Option<String>,
    /// The query's parameters, decoded, each once.
    pub query: Query,
    /// The path and query as received (matched by the grammar), what goes to BACEN.
    pub path_and_query: String,
}

impl Route {
    /// Reads `method uri` for a relay of `profile`.
    pub fn parse(profile: Profile, method: &Method, uri: &Uri) -> Result<Route, RouteError> {
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(RouteError::Path(
                "absolute URLs are not relayed; send a path".into(),
            ));
        }
        let path = uri.path();
        let (operation, path_ispb, declared) = match profile {
            Profile::Spi => {
                let (operation, ispb) = spi::parse(method, path)?;
                (operation, ispb, &[][..])
            }
            Profile::Dict => {
                let op = dict::parse(method, path)?;
                (Operation::Dict(op), None, op.query)
            }
        };
        let query = Query::parse(uri.query(), declared)
            .map_err(|e| RouteError::Query(format!("{method} {path}: {e}")))?;
        Ok(Route {
            profile,
            method: method.clone(),
            operation,
            path_ispb,
            query,
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| path.to_string(), |p| p.to_string()),
        })
    }

    /// The permission the callers policy must grant.
    pub fn permission(&self) -> Permission {
        match self.operation {
            Operation::SpiSend | Operation::SpiSendCatalog => Permission::SpiSend,
            Operation::SpiStreamRead | Operation::SpiStreamEnd | Operation::SpiStreamCatalog => {
                Permission::SpiStream
            }
            Operation::Dict(op) if op.write => Permission::DictWrite,
            Operation::Dict(_) => Permission::DictRead,
        }
    }

    /// Whether the request carries a message the proxy signs: ICOM's sends and DICT's writes,
    /// except `checkKeys`, the one request body of DICT's OpenAPI without a `Signature`.
    pub fn signs_body(&self) -> bool {
        match self.operation {
            Operation::SpiSend => true,
            Operation::Dict(op) => op.body,
            _ => false,
        }
    }

    /// Whether the operation concerns no participant by its definition: ICOM's catalogs, and
    /// DICT's `checkKeys` (unsigned, declaring no participant). Any other request that names
    /// none could act for any.
    pub fn participant_free(&self) -> bool {
        match self.operation {
            Operation::SpiSendCatalog | Operation::SpiStreamCatalog => true,
            Operation::Dict(op) => op.server == Server::KeyCheck,
            _ => false,
        }
    }

    /// Whether the operation takes a request body at all.
    pub fn takes_body(&self) -> bool {
        match self.operation {
            Operation::SpiSend => true,
            Operation::Dict(op) => op.body || op.server == Server::KeyCheck,
            _ => false,
        }
    }

    /// The server the request goes to.
    pub fn server(&self) -> Server {
        match self.operation {
            Operation::Dict(op) => op.server,
            _ => Server::Main,
        }
    }

    /// How BACEN's answer is judged.
    pub fn answer_kind(&self) -> AnswerKind {
        match self.operation {
            Operation::SpiStreamRead => AnswerKind::Stream,
            Operation::SpiSendCatalog | Operation::SpiStreamCatalog | Operation::SpiStreamEnd => {
                AnswerKind::Unsigned
            }
            Operation::SpiSend | Operation::Dict(_) => AnswerKind::Signed,
        }
    }

    /// The limit of requests in flight the request counts against, if any.
    pub fn budget(&self) -> Option<BudgetSide> {
        match self.operation {
            Operation::SpiSend => Some(BudgetSide::Send),
            Operation::SpiStreamRead | Operation::SpiStreamEnd => Some(BudgetSide::Read),
            _ => None,
        }
    }

    /// The operation's name as the audit record and the docs give it (`spi-send`, DICT's
    /// `operationId`).
    pub fn name(&self) -> &'static str {
        match self.operation {
            Operation::SpiSend => "spi-send",
            Operation::SpiStreamRead => "spi-stream-read",
            Operation::SpiStreamEnd => "spi-stream-end",
            Operation::SpiSendCatalog => "spi-send-catalog",
            Operation::SpiStreamCatalog => "spi-stream-catalog",
            Operation::Dict(op) => op.id,
        }
    }
}

/// Whether `s` is an ISPB: eight ASCII digits.
pub fn is_ispb(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Text from outside as a refusal shows it: printable ASCII, at most `max` characters.
pub(crate) fn shown(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests;
