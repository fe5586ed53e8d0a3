//! Statements kept prepared on their connection where diesel would prepare them afresh.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// `query`, kept prepared on its connection by diesel-async's statement cache, keyed by its
/// SQL text and bind types.
///
/// Diesel prepares every UPDATE, raw `sql_query`, SQL literal and multi-row insert afresh on
/// each run — Postgres parses and plans it again — because one Rust type may stand for
/// several SQL texts, and its cache would otherwise key them by type. Keyed by text, such a
/// statement is as safe to keep as any other. Only hot-path statements are wrapped: their
/// texts are few, so the cache stays small. On the lifecycle benchmark, parsing and planning
/// were the larger part of Postgres' CPU before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared<Q>(pub(crate) Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: the statement cache then keys the statement by its SQL text.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}
