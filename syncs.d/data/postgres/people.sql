-- The accounts service's table that syncs.d/people.yaml reads (scripts/demo loads it into its throwaway server).
CREATE TABLE people (
    person_id    bigint PRIMARY KEY,
    email        text NOT NULL,
    full_name    text,
    plan         varchar(16),
    balance      numeric(12, 2),
    active       boolean NOT NULL DEFAULT true,
    signed_up_on date,
    preferences  jsonb,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX people_updated_at ON people (updated_at);

INSERT INTO people
SELECT n,
       'person' || n || '@example.com',
       'Person ' || n,
       (ARRAY['free', 'team', 'enterprise'])[1 + n % 3],
       round((n * 7.35)::numeric, 2),
       n % 5 <> 0,
       date '2024-01-01' + n,
       jsonb_build_object('newsletter', n % 2 = 0, 'locale', 'en'),
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 minute'
FROM generate_series(1, 40) AS n;
