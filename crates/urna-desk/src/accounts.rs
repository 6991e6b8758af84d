//! Account administration beside [`crate::db::add_user`]: unlock a locked account, reset a
//! forgotten password, disable an account (and enable it again). From the administrator's
//! page or `urna desk user`; every change is written to the audit trail, and a reset or a
//! disable ends every session of the account at once.

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use crate::db::{self, DbError};

/// What to do to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAction {
    /// Lift a lock-out and forget the failed logins.
    Unlock,
    /// A new first password, to be changed at the next login; lifts a lock-out.
    Reset(String),
    /// No login, no session, until enabled.
    Disable,
    /// Undo [`AccountAction::Disable`]; lifts a lock-out.
    Enable,
}

impl AccountAction {
    /// The action's name (`unlock`, `reset`, `disable`, `enable`), as in the audit trail.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unlock => "unlock",
            Self::Reset(_) => "reset",
            Self::Disable => "disable",
            Self::Enable => "enable",
        }
    }
}

/// Applies `action` to account `name` on behalf of `by`, in one transaction with its audit
/// line (`user-unlock`, `user-reset`, `user-disable`, `user-enable`). Returns how many
/// sessions of the account were ended.
///
/// # Errors
/// [`DbError::Field`] for an unknown account or a short password; [`DbError`] if SQLite fails.
pub fn manage(
    conn: &mut Connection,
    name: &str,
    action: &AccountAction,
    by: &str,
) -> Result<usize, DbError> {
    let hash = match action {
        AccountAction::Reset(password) => Some(db::hash_password(password)?),
        _ => None,
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id: i64 = tx
        .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| DbError::Field {
            field: "name",
            rule: format!("no account named {name:?}"),
        })?;
    match (action, hash) {
        (AccountAction::Reset(_), Some(hash)) => {
            tx.execute(
                "UPDATE users SET hash = ?1, must_change = 1, failures = 0, locked_until_ms = 0 WHERE id = ?2",
                params![hash, id],
            )?;
        }
        (AccountAction::Disable, _) => {
            tx.execute("UPDATE users SET disabled = 1 WHERE id = ?1", [id])?;
        }
        (AccountAction::Enable, _) => {
            tx.execute(
                "UPDATE users SET disabled = 0, failures = 0, locked_until_ms = 0 WHERE id = ?1",
                [id],
            )?;
        }
        _ => {
            tx.execute(
                "UPDATE users SET failures = 0, locked_until_ms = 0 WHERE id = ?1",
                [id],
            )?;
        }
    }
    if !matches!(action, AccountAction::Disable) {
        crate::db::Failures::forgive_everywhere(&tx, id)?;
    }
    let ended = match action {
        AccountAction::Reset(_) | AccountAction::Disable => {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?
        }
        AccountAction::Unlock | AccountAction::Enable => 0,
    };
    db::audit(
        &tx,
        by,
        &format!("user-{}", action.as_str()),
        name,
        &format!("{ended} session(s) ended"),
    )?;
    tx.commit()?;
    Ok(ended)
}
