//! The administrator's account actions over the API: unlock, reset, disable, enable.

use serde_json::{Value, json};

use super::{Desk, Refusal, Session};
use crate::accounts::{self, AccountAction};
use crate::db::Role;

impl Desk {
    /// An administrator unlocks, resets (with a new first password), disables or enables
    /// another account.
    ///
    /// # Errors
    /// [`Refusal`] for a role other than administrator, the caller's own account, an unknown
    /// action or account, a reset without a good password.
    pub fn manage_user(
        &self,
        s: &Session,
        name: &str,
        action: &str,
        password: Option<&str>,
    ) -> Result<Value, Refusal> {
        let admin = self
            .require(s, &[Role::Administrator], "manage accounts")?
            .clone();
        if admin.name == name {
            return Err(Refusal::new(
                400,
                "bad-field",
                "field `name`: not your own account (change your password instead)",
            ));
        }
        let action = match (action, password) {
            ("unlock", _) => AccountAction::Unlock,
            ("disable", _) => AccountAction::Disable,
            ("enable", _) => AccountAction::Enable,
            ("reset", Some(p)) => AccountAction::Reset(p.to_owned()),
            ("reset", None) => {
                return Err(Refusal::new(
                    400,
                    "bad-field",
                    "field `password`: a reset needs the new first password",
                ));
            }
            (other, _) => {
                return Err(Refusal::new(
                    404,
                    "not-found",
                    format!("{other:?} is not unlock, reset, disable or enable"),
                ));
            }
        };
        let _permit = match action {
            AccountAction::Reset(_) => Some(self.password_permit()?),
            _ => None,
        };
        let ended = accounts::manage(&mut self.db(), name, &action, &admin.name)?;
        Ok(json!({"name": name, "action": action.as_str(), "sessions_ended": ended}))
    }
}
