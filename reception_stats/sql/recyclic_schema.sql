-- Recyclic's tables as a fresh Recyclic database has them (PostgreSQL 15+), as its own Alembic
-- migrations leave them. Those migrations create these tables in a real deployment; this file
-- only builds them for the demo and the tests, so that the unmanaged models are checked against
-- the real column types, enums, defaults and constraints.
--
-- Run as one statement batch on an empty database. It must contain no percent sign: it is passed
-- through a DB-API cursor.
--
-- Faithful on purpose: no ON DELETE on any foreign key, no index beyond the primary keys and the
-- ones Recyclic declares (none on opened_at, closed_at, status, created_at, sale_date nor on any
-- foreign-key column), no server default on the primary keys (Recyclic generates UUID4 values).

CREATE TYPE destinationenum AS ENUM ('MAGASIN', 'RECYCLAGE', 'DECHETERIE');
CREATE TYPE cashsessionstatus AS ENUM ('OPEN', 'CLOSED');
CREATE TYPE cashsessionstep AS ENUM ('ENTRY', 'SALE', 'EXIT');
CREATE TYPE userrole AS ENUM ('super-admin', 'admin', 'user');
CREATE TYPE userstatus AS ENUM ('pending', 'approved', 'rejected', 'active');

CREATE TABLE sites (
    id uuid NOT NULL,
    name character varying NOT NULL,
    address character varying,
    city character varying,
    postal_code character varying,
    country character varying,
    configuration json,
    is_active boolean NOT NULL,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    CONSTRAINT sites_pkey PRIMARY KEY (id)
);

-- users.site_id names the user's site but Recyclic declares no foreign key on it.
CREATE TABLE users (
    id uuid NOT NULL,
    username character varying NOT NULL,
    email character varying,
    hashed_password character varying NOT NULL,
    hashed_pin character varying,
    telegram_id character varying,
    first_name character varying,
    last_name character varying,
    phone_number character varying,
    address character varying,
    notes text,
    skills text,
    availability text,
    role userrole NOT NULL,
    status userstatus NOT NULL,
    is_active boolean NOT NULL,
    site_id uuid,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT uq_users_email UNIQUE (email)
);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE INDEX ix_users_telegram_id ON users (telegram_id);

CREATE TABLE categories (
    id uuid NOT NULL,
    name character varying NOT NULL,
    official_name character varying(255),
    is_active boolean NOT NULL,
    parent_id uuid,
    price numeric(10, 2),
    max_price numeric(10, 2),
    display_order integer DEFAULT 0 NOT NULL,
    display_order_entry integer DEFAULT 0 NOT NULL,
    is_visible boolean DEFAULT true NOT NULL,
    shortcut_key character varying,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    deleted_at timestamp with time zone,
    CONSTRAINT categories_pkey PRIMARY KEY (id),
    CONSTRAINT categories_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES categories (id)
);
CREATE UNIQUE INDEX ix_categories_name ON categories (name);
CREATE INDEX ix_categories_parent_id ON categories (parent_id);

-- No site_id: a poste's site is the site of the user who opened it.
CREATE TABLE poste_reception (
    id uuid NOT NULL,
    opened_by_user_id uuid NOT NULL,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    closed_at timestamp with time zone,
    status character varying(16) NOT NULL,
    CONSTRAINT poste_reception_pkey PRIMARY KEY (id),
    CONSTRAINT poste_reception_opened_by_user_id_fkey
        FOREIGN KEY (opened_by_user_id) REFERENCES users (id)
);

-- created_at holds the poste's opened_at in practice, not the ticket's creation time.
CREATE TABLE ticket_depot (
    id uuid NOT NULL,
    poste_id uuid NOT NULL,
    benevole_user_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    closed_at timestamp with time zone,
    status character varying(16) NOT NULL,
    CONSTRAINT ticket_depot_pkey PRIMARY KEY (id),
    CONSTRAINT ticket_depot_poste_id_fkey FOREIGN KEY (poste_id) REFERENCES poste_reception (id),
    CONSTRAINT ticket_depot_benevole_user_id_fkey
        FOREIGN KEY (benevole_user_id) REFERENCES users (id)
);

CREATE TABLE ligne_depot (
    id uuid NOT NULL,
    ticket_id uuid NOT NULL,
    category_id uuid NOT NULL,
    poids_kg numeric(8, 3) NOT NULL,
    destination destinationenum NOT NULL,
    notes character varying,
    is_exit boolean DEFAULT false NOT NULL,
    CONSTRAINT ligne_depot_pkey PRIMARY KEY (id),
    CONSTRAINT ligne_depot_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES ticket_depot (id),
    CONSTRAINT ligne_depot_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories (id)
);
CREATE INDEX idx_ligne_depot_is_exit ON ligne_depot (is_exit);

-- register_id references cash_registers.id in Recyclic; that table is not mapped here, so the
-- column carries no foreign key.
CREATE TABLE cash_sessions (
    id uuid NOT NULL,
    operator_id uuid NOT NULL,
    site_id uuid NOT NULL,
    register_id uuid,
    initial_amount double precision NOT NULL,
    current_amount double precision NOT NULL,
    status cashsessionstatus NOT NULL,
    opened_at timestamp with time zone NOT NULL,
    closed_at timestamp with time zone,
    total_sales double precision,
    total_items integer,
    closing_amount double precision,
    actual_amount double precision,
    variance double precision,
    variance_comment character varying,
    current_step cashsessionstep,
    last_activity timestamp with time zone,
    step_start_time timestamp with time zone,
    CONSTRAINT cash_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT cash_sessions_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES users (id),
    CONSTRAINT cash_sessions_site_id_fkey FOREIGN KEY (site_id) REFERENCES sites (id)
);

CREATE TABLE sales (
    id uuid NOT NULL,
    cash_session_id uuid NOT NULL,
    operator_id uuid,
    total_amount double precision NOT NULL,
    donation double precision,
    payment_method character varying(5),
    note text,
    sale_date timestamp with time zone,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    CONSTRAINT sales_pkey PRIMARY KEY (id),
    CONSTRAINT sales_cash_session_id_fkey
        FOREIGN KEY (cash_session_id) REFERENCES cash_sessions (id),
    CONSTRAINT sales_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES users (id)
);

-- preset_id references preset_buttons.id in Recyclic; that table is not mapped here, so the
-- column carries no foreign key.
CREATE TABLE sale_items (
    id uuid NOT NULL,
    sale_id uuid NOT NULL,
    category character varying(50) NOT NULL,
    quantity integer NOT NULL,
    weight double precision,
    unit_price double precision NOT NULL,
    total_price double precision NOT NULL,
    notes text,
    preset_id uuid,
    CONSTRAINT sale_items_pkey PRIMARY KEY (id),
    CONSTRAINT sale_items_sale_id_fkey FOREIGN KEY (sale_id) REFERENCES sales (id)
);
