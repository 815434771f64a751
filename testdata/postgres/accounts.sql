-- Accounts as a CRM keeps them in PostgreSQL, for the warehouse job of
-- config.example.yaml. Load it into a schema of your choice:
--
--   psql "$DATABASE_URL" -c 'CREATE SCHEMA crm' \
--        -c 'SET search_path TO crm' -f testdata/postgres/accounts.sql
--
-- The rows cover the cases a sync meets: an exact numeric beyond float64
-- precision, NULLs under both empty policies, a JSON settings document, a
-- text[] of regions, non-Latin text, and one row whose renewal date
-- ('infinity') cannot become an Atlas date.

CREATE TABLE accounts (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    domain          text,
    industry        varchar(80),
    annual_revenue  numeric(20, 2),
    employees       integer,
    renewal_date    date,
    is_partner      boolean,
    settings        jsonb,
    regions         text[],
    account_manager uuid,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO accounts VALUES
    ('ACC-001', 'Northwind Fabrication', 'northwind-fab.example', 'Manufacturing',
     12345678901234567.89, 120, '2027-03-31', true,
     '{"plan": {"tier": "enterprise", "seats": 250}, "beta": true}', '{EMEA,NA}',
     '3f2504e0-4f89-41d3-9a0c-0305e82c3301', '2024-03-01 09:00:00+00'),
    ('ACC-002', 'Ørsted Kaffe', 'orsted.example', NULL,
     0.10, 8, NULL, false,
     '{"plan": {"tier": "starter"}}', '{}',
     NULL, '2024-03-01 09:05:00+00'),
    ('ACC-003', '株式会社 Sakura', NULL, 'Retail',
     NULL, NULL, '2026-12-01', NULL,
     NULL, '{APAC}',
     'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2024-03-01 09:10:00+00'),
    ('ACC-004', 'Forever Renewing Ltd', 'forever.example', 'Services',
     500, 3, 'infinity', false,
     '{"plan": {"tier": "pro"}}', '{NA}',
     NULL, '2024-03-01 09:15:00+00');
