-- The sandbox bank's schema before US accounts (sandbox_bank/store.py at ccbb8a6): a bank file
-- made then must open, upgraded, with every row kept.
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    iban TEXT NOT NULL UNIQUE,
    bic TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    currency TEXT NOT NULL,
    opening_balance_minor INTEGER NOT NULL,
    balance_minor INTEGER NOT NULL,
    is_platform INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    -- Sandbox behaviour: credits to this account come back as returns after being paid.
    returns_credits INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_one_platform_account_per_currency
    ON accounts (currency) WHERE is_platform = 1;

CREATE TABLE IF NOT EXISTS transfers (
    payout_id TEXT PRIMARY KEY,
    bank_reference TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    creditor_name TEXT NOT NULL,
    creditor_iban TEXT NOT NULL,
    creditor_bic TEXT NOT NULL,
    remittance TEXT NOT NULL,
    debtor_account_id INTEGER NOT NULL REFERENCES accounts (id),
    creditor_account_id INTEGER REFERENCES accounts (id),
    status TEXT NOT NULL CHECK (status IN ('accepted', 'paid', 'returned', 'rejected')),
    failure_code TEXT NOT NULL DEFAULT '',
    reason_code TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT '',
    accepted_at TEXT NOT NULL,
    settled_at TEXT,
    returned_at TEXT,
    settle_due REAL,
    return_due REAL
);
CREATE INDEX IF NOT EXISTS transfers_settle_due ON transfers (settle_due)
    WHERE settle_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS transfers_return_due ON transfers (return_due)
    WHERE return_due IS NOT NULL;

CREATE TABLE IF NOT EXISTS incoming (
    bank_reference TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    reference TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    debtor_name TEXT NOT NULL,
    debtor_iban TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    received_at TEXT NOT NULL
);

-- Append-only: every change of a balance, signed (+ credit, - debit).
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
    kind TEXT NOT NULL CHECK (kind IN ('transfer', 'return', 'incoming')),
    end_to_end_id TEXT NOT NULL,
    bank_reference TEXT NOT NULL,
    counterparty_name TEXT NOT NULL,
    counterparty_iban TEXT NOT NULL,
    remittance TEXT NOT NULL,
    creditor_reference TEXT NOT NULL DEFAULT '',
    reason_code TEXT NOT NULL DEFAULT '',
    booked_at TEXT NOT NULL,
    booked_on TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_by_account_day ON bookings (account_id, booked_on);

-- The callback outbox: written in the same transaction as the change it reports.
CREATE TABLE IF NOT EXISTS callbacks (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dropped', 'failed')),
    copies_left INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (next_attempt) WHERE status = 'pending';
