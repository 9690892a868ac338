-- Console users (people who sign in at /login) and their sessions.

-- Passwords are argon2id hashes, like sender secrets.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
    password_hash TEXT NOT NULL,
    created       TIMESTAMP NOT NULL
);

-- A session by the SHA-256 of its cookie value (never the value itself). It ends when its
-- user is removed, when the user signs out, or after `session_idle_minutes` without a request.
CREATE TABLE console_sessions (
    id_hash   TEXT PRIMARY KEY NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created   TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);
CREATE INDEX console_sessions_last_seen ON console_sessions(last_seen);
