-- escrow's read models: all derived from the log by services/escrow/projections.py and
-- rebuildable from position 0. The sandbox payment provider's table is not a read model:
-- it stands for the provider's own records (see services/escrow/payments.py).

CREATE TABLE IF NOT EXISTS escrow_contracts (
    contract_id    text        PRIMARY KEY,
    client_id      text        NOT NULL,
    freelancer_id  text        NOT NULL,
    status         text        NOT NULL,
    opened_at      timestamptz NOT NULL,
    version        integer     NOT NULL,
    summary        jsonb       NOT NULL,
    view           jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS escrow_contracts_client ON escrow_contracts (client_id, opened_at);
CREATE INDEX IF NOT EXISTS escrow_contracts_freelancer ON escrow_contracts (freelancer_id, opened_at);

CREATE TABLE IF NOT EXISTS escrow_wallets (
    wallet_id  text    PRIMARY KEY,
    user_id    text    NOT NULL,
    currency   text    NOT NULL,
    version    integer NOT NULL,
    view       jsonb   NOT NULL
);
CREATE INDEX IF NOT EXISTS escrow_wallets_user ON escrow_wallets (user_id);

-- Every posting of the double-entry ledger; (position, leg) names one leg of one event.
CREATE TABLE IF NOT EXISTS ledger_entries (
    position     bigint      NOT NULL,
    leg          integer     NOT NULL,
    event_type   text        NOT NULL,
    account      text        NOT NULL,
    currency     text        NOT NULL,
    amount       bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (position, leg)
);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries (account, currency, position);

-- Running balance of each account, kept next to its entries (an invariant compares them).
CREATE TABLE IF NOT EXISTS ledger_balances (
    account   text   NOT NULL,
    currency  text   NOT NULL,
    balance   bigint NOT NULL,
    PRIMARY KEY (account, currency)
);

-- Funded, released and refunded gross amounts per milestone or hourly week.
CREATE TABLE IF NOT EXISTS escrow_totals (
    contract_id  text   NOT NULL,
    kind         text   NOT NULL,
    target_id    text   NOT NULL,
    currency     text   NOT NULL,
    funded       bigint NOT NULL DEFAULT 0,
    released     bigint NOT NULL DEFAULT 0,
    refunded     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (contract_id, kind, target_id)
);

-- The local sandbox payment provider's records (its side of deposits and payouts).
CREATE TABLE IF NOT EXISTS sandbox_provider_payments (
    provider_reference  text        PRIMARY KEY,
    operation           text        NOT NULL,
    operation_id        text        NOT NULL,
    user_id             text        NOT NULL,
    currency            text        NOT NULL,
    amount              bigint      NOT NULL,
    idempotency_key     text        UNIQUE,
    status              text        NOT NULL DEFAULT 'requested',
    reason              text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    settled_at          timestamptz,
    UNIQUE (operation, operation_id)
);
