//! Why a token presented to Keyhole was not accepted.

/// A token that cannot be detokenized or inspected.
///
/// `Display` is shown to the agent who sent the token, so it names the
/// condition only: never the value, the class, or whom the token belongs to.
/// The security team's record takes [`TokenRefused::code`] and, for
/// [`TokenRefused::NotYours`], the `issued_to` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// Not a token Keyhole could have made: bad prefix, key id, encoding or length.
    #[error("the token is malformed")]
    Malformed,
    /// The key id is not in the config, or was removed from it.
    #[error("the token was made with a key this gateway does not know")]
    UnknownKey,
    /// The token is authentic, but its key has been retired.
    #[error("the token was made with a retired key and is no longer accepted")]
    RetiredKey,
    /// The token does not authenticate under its key: edited or forged.
    #[error("the token failed authentication")]
    Tampered,
    /// The token is authentic but was issued to another holder.
    #[error("the token was not issued to you")]
    NotYours {
        /// Whom the token belongs to: `agent <id> of vendor <id>` or `vendor <id>`.
        /// For the security team only; never show it to the requesting agent.
        issued_to: String,
    },
}

impl TokenRefused {
    /// A stable kebab-case code for error bodies, metrics and the ledger.
    pub fn code(&self) -> &'static str {
        match self {
            TokenRefused::Malformed => "token-malformed",
            TokenRefused::UnknownKey => "token-unknown-key",
            TokenRefused::RetiredKey => "token-retired-key",
            TokenRefused::Tampered => "token-tampered",
            TokenRefused::NotYours { .. } => "token-not-yours",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let all = [
            (TokenRefused::Malformed, "token-malformed"),
            (TokenRefused::UnknownKey, "token-unknown-key"),
            (TokenRefused::RetiredKey, "token-retired-key"),
            (TokenRefused::Tampered, "token-tampered"),
            (
                TokenRefused::NotYours {
                    issued_to: "x".into(),
                },
                "token-not-yours",
            ),
        ];
        for (err, code) in all {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn not_yours_display_hides_the_owner() {
        let err = TokenRefused::NotYours {
            issued_to: "agent bob of vendor globex".into(),
        };
        let shown = err.to_string();
        assert!(
            !shown.contains("bob") && !shown.contains("globex"),
            "{shown}"
        );
    }
}
