//! `intake token …` and `intake user …`: API tokens and console users.

use clap::Subcommand;

use super::common::{connect, fail, read_secret};
use super::output;
use crate::auth::hash_secret;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints only the token, once.
    Create {
        #[arg(long, value_parser = ["admin", "analyst"])]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke { id: i32 },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin.
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "analyst"])]
        role: String,
        /// Read the password from stdin (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users (never their passwords).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a user and end their sessions.
    Remove { name: String },
    /// Set a new password (read from stdin) and end the user's sessions.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub(super) fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    use crate::auth::tokens::{self, Role};
    let mut conn = connect(settings)?;
    match command {
        TokenCommand::Create { role, name } => {
            let role = Role::parse(&role).map_err(fail)?;
            let (token, _) = tokens::create(&mut conn, role, &name).map_err(fail)?;
            println!("{token}");
        }
        TokenCommand::List { json } => {
            output::tokens(&tokens::list(&mut conn).map_err(fail)?, json)
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(&mut conn, id).map_err(fail)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

pub(super) fn user(settings: &Settings, command: UserCommand) -> anyhow::Result<()> {
    use crate::auth::tokens::Role;
    use crate::console::users;
    let mut conn = connect(settings)?;
    match command {
        UserCommand::Add { name, role, .. } => {
            let role = Role::parse(&role).map_err(fail)?;
            let password = read_secret()?;
            users::check_password(&password).map_err(fail)?;
            let user =
                users::add(&mut conn, &name, role, &hash_secret(&password)?).map_err(fail)?;
            println!("added {} user '{}'", user.role, user.name);
        }
        UserCommand::List { json } => output::users(&users::list(&mut conn).map_err(fail)?, json),
        UserCommand::Remove { name } => {
            users::remove(&mut conn, &name).map_err(fail)?;
            println!("removed user '{name}' and ended their sessions");
        }
        UserCommand::Passwd { name, .. } => {
            let password = read_secret()?;
            users::check_password(&password).map_err(fail)?;
            users::set_password(&mut conn, &name, &hash_secret(&password)?).map_err(fail)?;
            println!("changed the password of '{name}' and ended their sessions");
        }
    }
    Ok(())
}
