//! Diesel table definitions, kept in step with `migrations/sqlite` and `migrations/postgres`
//! by hand.

diesel::table! {
    meta (key) {
        key -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    instances (id) {
        id -> Integer,
        name -> Text,
        incident_type -> Nullable<Text>,
        store_samples -> Bool,
        sample_limit -> Integer,
        allow_anonymous -> Bool,
        enabled -> Bool,
        mapping -> Nullable<Text>,
        preset -> Nullable<Text>,
        created -> Timestamp,
        updated -> Timestamp,
        listen_port -> Nullable<Integer>,
        tls_cert -> Nullable<Text>,
        tls_key -> Nullable<Text>,
    }
}

diesel::table! {
    credentials (id) {
        id -> Integer,
        instance_id -> Integer,
        kind -> Text,
        username -> Text,
        secret_hash -> Text,
        created -> Timestamp,
    }
}

diesel::table! {
    incidents (id) {
        id -> BigInt,
        instance -> Text,
        name -> Text,
        #[sql_name = "type"]
        type_ -> Nullable<Text>,
        occurred -> Timestamp,
        created -> Timestamp,
        raw_json -> Text,
        severity -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        labels -> Nullable<Text>,
        status -> Text,
        occurrences -> Integer,
        last_seen -> Nullable<Timestamp>,
    }
}

diesel::table! {
    samples (id) {
        id -> BigInt,
        instance_id -> Integer,
        received -> Timestamp,
        body -> Text,
        headers -> Text,
        body_hash -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Integer,
        name -> Text,
        role -> Text,
        token_hash -> Text,
        created -> Timestamp,
        last_used -> Nullable<Timestamp>,
    }
}

diesel::table! {
    incident_events (id) {
        id -> BigInt,
        incident_id -> BigInt,
        kind -> Text,
        received -> Timestamp,
        body -> Text,
    }
}

diesel::table! {
    idempotency_keys (instance, key) {
        instance -> Text,
        key -> Text,
        response -> Text,
        created -> Timestamp,
    }
}

diesel::table! {
    instance_auth (instance_id) {
        instance_id -> Integer,
        token_ttl -> Integer,
        signature_tolerance_s -> Integer,
        rate_limit -> Nullable<Double>,
        rate_burst -> Nullable<Integer>,
    }
}

diesel::table! {
    sender_tokens (token_hash) {
        token_hash -> Text,
        instance_id -> Integer,
        credential_id -> Integer,
        created -> Timestamp,
        expires -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created -> Timestamp,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        user_id -> Integer,
        created -> Timestamp,
        last_seen -> Timestamp,
    }
}

diesel::joinable!(console_sessions -> users (user_id));
diesel::joinable!(credentials -> instances (instance_id));
diesel::joinable!(instance_auth -> instances (instance_id));
diesel::joinable!(samples -> instances (instance_id));
diesel::allow_tables_to_appear_in_same_query!(
    meta,
    instances,
    credentials,
    incidents,
    samples,
    api_tokens,
    incident_events,
    idempotency_keys,
    instance_auth,
    sender_tokens,
    users,
    console_sessions
);
