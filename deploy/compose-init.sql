-- docker-compose.yml: runs once, when the postgres container initialises an
-- empty data directory (as the postgres superuser, through psql).
--
-- The owner role migrates and owns every table; the server logs in as
-- dw_server, a member of dustwatch_app that owns nothing and cannot bypass
-- row-level security.  Neither is a superuser.  Passwords come from the
-- container's environment (\getenv, psql 15), never from this file.
\set ON_ERROR_STOP on
\getenv owner_password DW_OWNER_PASSWORD
\getenv server_password DW_SERVER_PASSWORD

CREATE ROLE dwowner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE dustwatch_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
CREATE ROLE dw_server LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'server_password' IN ROLE dustwatch_app;
-- the migrations create SECURITY DEFINER functions that run in the system scope
-- (SET dw.scope = 'system', 0051 on): PostgreSQL 15 lets a non-superuser attach a
-- custom parameter to a function only with this grant
GRANT SET ON PARAMETER dw.scope TO dwowner;

CREATE DATABASE dustwatch OWNER dwowner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE dustwatch FROM PUBLIC;
GRANT CONNECT ON DATABASE dustwatch TO dwowner, dustwatch_app;

\connect dustwatch
-- only the owner creates objects (PostgreSQL 15 already denies PUBLIC)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
