-- The PostgreSQL role reception_stats reads Recyclic's tables with (docs/reliability.md, "The
-- PostgreSQL role to use"): it may log in, SELECT the nine tables the figures read, and nothing
-- else; every transaction of the role is read-only and bounded in time, even outside the app.
--
-- Run it with psql, connected to Recyclic's database as its owner or a superuser:
--
--   psql -h HOST -U recyclic -d recyclic -v password='…' -f deploy/recyclic-readonly-role.sql
--
-- With Recyclic's Compose stack, through its postgres container (-T: the file comes on stdin):
--
--   docker compose exec -T postgres psql -U recyclic -d recyclic -v password='…' \
--       < deploy/recyclic-readonly-role.sql
--
-- psql variables (-v name=value):
--   password  the role's password, required. It goes into RECYCLIC_DATABASE_URL: letters and
--             digits are the safe choice.
--   role      the role's name, default reception_stats_reader.
--   schema    the schema of Recyclic's tables, default public.
-- The database is the one psql is connected to.
--
-- Safe to run again, e.g. to change the password, or after an upgrade of Recyclic that
-- re-created a table (the grants go with a dropped table): the role is created only if missing,
-- then its password, limits and grants are set again. All in one transaction: on any error
-- nothing is changed.

\set ON_ERROR_STOP on

\if :{?role}
\else
\set role reception_stats_reader
\endif
\if :{?schema}
\else
\set schema public
\endif
\if :{?password}
\else
DO $$ BEGIN RAISE EXCEPTION 'No password given: run psql with -v password=...'; END $$;
\endif

BEGIN;

-- Refuse an empty password, and an existing role of that name that is a superuser: it would
-- bypass every grant below, and this file would only make it look read-only.
SELECT :'password' = '' AS no_password,
       EXISTS (SELECT FROM pg_roles WHERE rolname = :'role' AND rolsuper) AS is_superuser,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS role_is_new
\gset
\if :no_password
DO $$ BEGIN RAISE EXCEPTION 'The password is empty: give one with -v password=...'; END $$;
\endif
\if :is_superuser
DO $$ BEGIN RAISE EXCEPTION 'That role is a superuser: choose another name with -v role=...'; END $$;
\endif

\if :role_is_new
CREATE ROLE :"role" LOGIN;
\endif
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';

-- Belt and braces: the app itself sets its own, shorter limits per statement.
ALTER ROLE :"role" SET default_transaction_read_only = on;
ALTER ROLE :"role" SET statement_timeout = '5s';
ALTER ROLE :"role" SET lock_timeout = '1s';
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '30s';

GRANT CONNECT ON DATABASE :"DBNAME" TO :"role";
GRANT USAGE ON SCHEMA :"schema" TO :"role";
-- These nine only: Recyclic's other tables (its users' sessions, audit log, settings) stay
-- unreadable. No ALTER DEFAULT PRIVILEGES: a table Recyclic adds is not granted either.
GRANT SELECT ON TABLE
    :"schema".sites,
    :"schema".users,
    :"schema".categories,
    :"schema".poste_reception,
    :"schema".ticket_depot,
    :"schema".ligne_depot,
    :"schema".cash_sessions,
    :"schema".sales,
    :"schema".sale_items
TO :"role";

COMMIT;

\echo 'Read-only role' :"role" 'ready: SELECT on the nine tables of' :"DBNAME" 'schema' :"schema"
