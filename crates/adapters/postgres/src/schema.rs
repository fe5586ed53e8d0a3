//! Diesel's view of the tables created by the top-level `migrations/`.
//! Written by hand to match them; the migration round-trip test keeps both honest.

diesel::table! {
    merchants (key) {
        key -> Text,
        name -> Text,
        contact_email -> Text,
        valid_until -> Date,
        capture -> Text,
        receipt -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        yookassa_shop_id -> Nullable<Text>,
        yookassa_secret_key -> Nullable<Text>,
        yookassa_vat_code -> Nullable<Int2>,
        yookassa_tax_system_code -> Nullable<Int2>,
        tbank_terminal_key -> Nullable<Text>,
        tbank_password -> Nullable<Text>,
        tbank_taxation -> Nullable<Text>,
        tbank_vat -> Nullable<Text>,
        tbank_sbp -> Bool,
        disabled -> Bool,
        yookassa_secret_key_set_at -> Nullable<Timestamptz>,
        tbank_password_set_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    devices (device_uuid) {
        device_uuid -> Text,
        merchant_key -> Text,
        location -> Text,
        provider -> Text,
        redirect_url -> Nullable<Text>,
        machine -> Text,
        test -> Bool,
        dispense_deadline_seconds -> Int8,
        on_dispense_deadline -> Text,
        simulation_outcome -> Text,
        simulation_delay_ms -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        events_secret -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        client_info -> Nullable<Text>,
        client_error_info -> Nullable<Text>,
        status_texts -> Jsonb,
        disabled -> Bool,
        events_secret_set_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    drinks (device_uuid, drink_no) {
        device_uuid -> Text,
        drink_no -> Text,
        name -> Text,
        price_small -> Nullable<Int8>,
        price_medium -> Nullable<Int8>,
        price_big -> Nullable<Int8>,
        currency -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        receipt_vat_code -> Nullable<Int2>,
        receipt_measure -> Nullable<Text>,
        receipt_payment_subject -> Nullable<Text>,
        receipt_payment_mode -> Nullable<Text>,
        disabled -> Bool,
    }
}

diesel::table! {
    orders (id) {
        id -> Uuid,
        machine_order_id -> Text,
        device_uuid -> Text,
        merchant_key -> Text,
        drink_no -> Text,
        drink_name -> Text,
        size -> Text,
        price_kopecks -> Int8,
        currency -> Text,
        status -> Text,
        expires_at -> Timestamptz,
        failure_reason -> Nullable<Text>,
        receipt_contact_kind -> Nullable<Text>,
        receipt_contact_value -> Nullable<Text>,
        dispense_assumed -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        make_outcome_unknown -> Bool,
        make_resent -> Bool,
        attention -> Nullable<Text>,
    }
}

diesel::table! {
    payments (id) {
        id -> Uuid,
        order_id -> Uuid,
        provider -> Text,
        provider_payment_id -> Text,
        amount_kopecks -> Int8,
        currency -> Text,
        capture -> Text,
        state -> Text,
        confirmation_url -> Text,
        idempotency_key -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        refund_id -> Nullable<Text>,
        device_uuid -> Text,
    }
}

diesel::table! {
    order_history (seq) {
        seq -> Int8,
        order_id -> Uuid,
        at -> Timestamptz,
        source -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        message -> Text,
    }
}

diesel::table! {
    provider_events (id) {
        id -> Int8,
        provider -> Text,
        event_key -> Text,
        order_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        seq -> Int8,
        kind -> Text,
        order_id -> Uuid,
        state -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        claim_token -> Nullable<Uuid>,
        payment_id -> Nullable<Uuid>,
        priority -> Int2,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(devices -> merchants (merchant_key));
diesel::joinable!(drinks -> devices (device_uuid));
diesel::joinable!(payments -> orders (order_id));
diesel::joinable!(order_history -> orders (order_id));
diesel::joinable!(jobs -> orders (order_id));

diesel::allow_tables_to_appear_in_same_query!(
    merchants,
    devices,
    drinks,
    orders,
    payments,
    order_history,
    provider_events,
    jobs,
);

diesel::table! {
    console_users (name) {
        name -> Text,
        role -> Text,
        merchant_key -> Nullable<Text>,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    console_sessions (token_hash) {
        token_hash -> Text,
        user_name -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    console_api_tokens (token_hash) {
        token_hash -> Text,
        name -> Text,
        role -> Text,
        merchant_key -> Nullable<Text>,
        disabled -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    console_login_attempts (id) {
        id -> Int8,
        at -> Timestamptz,
        name -> Text,
        ip -> Nullable<Text>,
        succeeded -> Bool,
    }
}

diesel::table! {
    console_audit (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        ip -> Nullable<Text>,
        order_id -> Nullable<Uuid>,
        device_uuid -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::joinable!(console_sessions -> console_users (user_name));
diesel::allow_tables_to_appear_in_same_query!(console_users, console_sessions);
