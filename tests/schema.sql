-- The schema of a new database: every row of sqlite_master, by table, then
-- tables before indexes before triggers, then name. Checked by tests/test_schema.py;
-- after adding a migration, regenerate it with `python tests/test_schema.py`.

-- table bill_fetches on bill_fetches
CREATE TABLE bill_fetches (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL,
            congress INTEGER NOT NULL,
            type TEXT NOT NULL CHECK (type IN
                ('hr', 's', 'hjres', 'sjres', 'hconres', 'sconres', 'hres', 'sres')),
            number INTEGER NOT NULL,
            title TEXT,
            fetched_at TEXT NOT NULL
        );

-- index bill_fetches_slug on bill_fetches
CREATE INDEX bill_fetches_slug ON bill_fetches (slug, id);

-- table bill_sponsors on bill_sponsors
CREATE TABLE bill_sponsors (
            fetch_id INTEGER NOT NULL REFERENCES bill_fetches (id),
            bioguide TEXT NOT NULL,
            name TEXT NOT NULL,
            is_sponsor INTEGER NOT NULL DEFAULT 0,
            party TEXT,
            state TEXT,
            district INTEGER,
            sponsorship_date TEXT,
            is_original INTEGER NOT NULL DEFAULT 0,
            withdrawn_date TEXT,
            PRIMARY KEY (fetch_id, bioguide)
        ) WITHOUT ROWID;

-- table bill_stance_overrides on bill_stance_overrides
CREATE TABLE bill_stance_overrides (
            slug TEXT NOT NULL,
            bioguide TEXT NOT NULL,
            stance TEXT NOT NULL CHECK (stance IN
                ('sponsor', 'cosponsor', 'supports', 'opposes', 'unknown')),
            source TEXT NOT NULL,
            line INTEGER NOT NULL,
            loaded_at TEXT NOT NULL,
            PRIMARY KEY (slug, bioguide)
        ) WITHOUT ROWID
        ;

-- table bills on bills
CREATE TABLE bills (
            slug TEXT PRIMARY KEY,
            congress INTEGER NOT NULL,
            type TEXT NOT NULL,
            number INTEGER NOT NULL,
            title TEXT,
            fetched_at TEXT NOT NULL,
            fetch_id INTEGER NOT NULL REFERENCES bill_fetches (id)
        );

-- index sqlite_autoindex_bills_1 on bills
-- (made by SQLite for a constraint)

-- table block_files on block_files
CREATE TABLE block_files (
            congress INTEGER NOT NULL,
            state TEXT NOT NULL,
            source_file TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            blocks INTEGER NOT NULL,
            loaded_at TEXT NOT NULL, state_fips TEXT,
            PRIMARY KEY (congress, state)
        ) WITHOUT ROWID
        ;

-- table campaign_stance_freezes on campaign_stance_freezes
CREATE TABLE campaign_stance_freezes (
            campaign_id INTEGER PRIMARY KEY REFERENCES campaigns (id),
            congress INTEGER NOT NULL,
            type TEXT NOT NULL,
            number INTEGER NOT NULL,
            fetch_id INTEGER REFERENCES bill_fetches (id),
            frozen_at TEXT NOT NULL
        );

-- table campaign_stances on campaign_stances
CREATE TABLE campaign_stances (
            campaign_id INTEGER NOT NULL REFERENCES campaign_stance_freezes (campaign_id),
            bioguide TEXT NOT NULL,
            stance TEXT NOT NULL CHECK (stance IN
                ('sponsor', 'cosponsor', 'supports', 'opposes', 'unknown')),
            PRIMARY KEY (campaign_id, bioguide)
        ) WITHOUT ROWID
        ;

-- table campaigns on campaigns
CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('update', 'action')),
            subject TEXT NOT NULL,
            source_sha256 TEXT,
            created_at TEXT NOT NULL,
            send_started_at TEXT,
            send_finished_at TEXT
        , deadline TEXT);

-- index sqlite_autoindex_campaigns_1 on campaigns
-- (made by SQLite for a constraint)

-- table census_blocks on census_blocks
CREATE TABLE census_blocks (
            congress INTEGER NOT NULL,
            geoid TEXT NOT NULL,
            district INTEGER NOT NULL,
            PRIMARY KEY (congress, geoid)
        ) WITHOUT ROWID;

-- table events on events
CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER REFERENCES campaigns (id),
            subscriber_id INTEGER,
            kind TEXT NOT NULL,
            link_id INTEGER REFERENCES links (id),
            target TEXT,
            at INTEGER NOT NULL,
            user_agent TEXT,
            machine INTEGER NOT NULL DEFAULT 0,
            provider TEXT,
            provider_event_id TEXT,
            detail TEXT, via_campaign_id INTEGER REFERENCES campaigns (id), late INTEGER NOT NULL DEFAULT 0,
            UNIQUE (provider, provider_event_id),
            CHECK ((provider IS NULL) = (provider_event_id IS NULL))
        );

-- index events_campaign_kind on events
CREATE INDEX events_campaign_kind ON events (campaign_id, kind, subscriber_id)
        ;

-- index events_letter_copies on events
CREATE INDEX events_letter_copies ON events (subscriber_id, at) WHERE kind = 'letter_emailed';

-- index events_via_campaign on events
CREATE INDEX events_via_campaign ON events (via_campaign_id, kind, subscriber_id)
            WHERE via_campaign_id IS NOT NULL;

-- index sqlite_autoindex_events_1 on events
-- (made by SQLite for a constraint)

-- trigger stats_event_added on events
CREATE TRIGGER stats_event_added AFTER INSERT ON events
        BEGIN
            INSERT INTO stats_kind_totals
                (campaign_id, kind, human_events, machine_events, human_people, people)
            SELECT NEW.campaign_id, NEW.kind, (NEW.machine = 0), (NEW.machine <> 0),
                (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.machine = 0)),
                (NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id))
            WHERE NEW.campaign_id IS NOT NULL
            ON CONFLICT (campaign_id, kind) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events,
                human_people = human_people + excluded.human_people,
                people = people + excluded.people;
            INSERT INTO stats_detail_totals
                (campaign_id, kind, link_id, target, human_events, machine_events, human_people)
            SELECT NEW.campaign_id, NEW.kind, COALESCE(NEW.link_id, 0), COALESCE(NEW.target, ''),
                (NEW.machine = 0), (NEW.machine <> 0),
                (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.link_id IS NEW.link_id
                    AND e.target IS NEW.target AND e.machine = 0))
            WHERE NEW.campaign_id IS NOT NULL
                AND (NEW.link_id IS NOT NULL OR NEW.target IS NOT NULL)
            ON CONFLICT (campaign_id, kind, link_id, target) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events,
                human_people = human_people + excluded.human_people;
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT NEW.campaign_id, NEW.kind, COALESCE((
                    SELECT l.subscriber_state FROM send_ledger AS l
                    WHERE l.campaign_id = NEW.campaign_id
                    AND l.subscriber_id = NEW.subscriber_id), ''), 1
            WHERE NEW.campaign_id IS NOT NULL
                AND NEW.kind IN ('delivered', 'open', 'click', 'letter_sent')
                AND NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.machine = 0)
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET
                human_people = human_people + excluded.human_people;
            INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events)
            SELECT NEW.campaign_id, NEW.kind, CAST(NEW.at AS INTEGER) / 3600,
                (NEW.machine = 0), (NEW.machine <> 0)
            WHERE NEW.campaign_id IS NOT NULL AND NEW.kind IN
                ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', 'unsubscribe')
            ON CONFLICT (campaign_id, kind, hour) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events;
        END;

-- trigger stats_event_changed on events
CREATE TRIGGER stats_event_changed AFTER UPDATE OF
            campaign_id, subscriber_id, kind, link_id, target, at, machine ON events
        BEGIN
            UPDATE stats_kind_totals SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0),
                human_people = human_people - (OLD.machine = 0
                    AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.machine = 0)),
                people = people - (OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id))
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind;
            DELETE FROM stats_kind_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND human_events = 0 AND machine_events = 0;
            UPDATE stats_detail_totals SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0),
                human_people = human_people - (OLD.machine = 0
                    AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.link_id IS OLD.link_id
                    AND e.target IS OLD.target AND e.machine = 0))
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND link_id = COALESCE(OLD.link_id, 0) AND target = COALESCE(OLD.target, '')
                AND (OLD.link_id IS NOT NULL OR OLD.target IS NOT NULL);
            DELETE FROM stats_detail_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND link_id = COALESCE(OLD.link_id, 0) AND target = COALESCE(OLD.target, '')
                AND human_events = 0 AND machine_events = 0;
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND state = COALESCE((
                    SELECT l.subscriber_state FROM send_ledger AS l
                    WHERE l.campaign_id = OLD.campaign_id
                    AND l.subscriber_id = OLD.subscriber_id), '')
                AND OLD.kind IN ('delivered', 'open', 'click', 'letter_sent')
                AND OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.machine = 0);
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind AND human_people = 0;
            UPDATE stats_hourly SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0)
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND hour = CAST(OLD.at AS INTEGER) / 3600;
            DELETE FROM stats_hourly
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND hour = CAST(OLD.at AS INTEGER) / 3600
                AND human_events = 0 AND machine_events = 0;
            INSERT INTO stats_kind_totals
                (campaign_id, kind, human_events, machine_events, human_people, people)
            SELECT NEW.campaign_id, NEW.kind, (NEW.machine = 0), (NEW.machine <> 0),
                (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.machine = 0)),
                (NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id))
            WHERE NEW.campaign_id IS NOT NULL
            ON CONFLICT (campaign_id, kind) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events,
                human_people = human_people + excluded.human_people,
                people = people + excluded.people;
            INSERT INTO stats_detail_totals
                (campaign_id, kind, link_id, target, human_events, machine_events, human_people)
            SELECT NEW.campaign_id, NEW.kind, COALESCE(NEW.link_id, 0), COALESCE(NEW.target, ''),
                (NEW.machine = 0), (NEW.machine <> 0),
                (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.link_id IS NEW.link_id
                    AND e.target IS NEW.target AND e.machine = 0))
            WHERE NEW.campaign_id IS NOT NULL
                AND (NEW.link_id IS NOT NULL OR NEW.target IS NOT NULL)
            ON CONFLICT (campaign_id, kind, link_id, target) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events,
                human_people = human_people + excluded.human_people;
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT NEW.campaign_id, NEW.kind, COALESCE((
                    SELECT l.subscriber_state FROM send_ledger AS l
                    WHERE l.campaign_id = NEW.campaign_id
                    AND l.subscriber_id = NEW.subscriber_id), ''), 1
            WHERE NEW.campaign_id IS NOT NULL
                AND NEW.kind IN ('delivered', 'open', 'click', 'letter_sent')
                AND NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.machine = 0)
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET
                human_people = human_people + excluded.human_people;
            INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events)
            SELECT NEW.campaign_id, NEW.kind, CAST(NEW.at AS INTEGER) / 3600,
                (NEW.machine = 0), (NEW.machine <> 0)
            WHERE NEW.campaign_id IS NOT NULL AND NEW.kind IN
                ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', 'unsubscribe')
            ON CONFLICT (campaign_id, kind, hour) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events;
        END;

-- trigger stats_event_removed on events
CREATE TRIGGER stats_event_removed AFTER DELETE ON events
        BEGIN
            UPDATE stats_kind_totals SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0),
                human_people = human_people - (OLD.machine = 0
                    AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.machine = 0)),
                people = people - (OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id))
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind;
            DELETE FROM stats_kind_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND human_events = 0 AND machine_events = 0;
            UPDATE stats_detail_totals SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0),
                human_people = human_people - (OLD.machine = 0
                    AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.link_id IS OLD.link_id
                    AND e.target IS OLD.target AND e.machine = 0))
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND link_id = COALESCE(OLD.link_id, 0) AND target = COALESCE(OLD.target, '')
                AND (OLD.link_id IS NOT NULL OR OLD.target IS NOT NULL);
            DELETE FROM stats_detail_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND link_id = COALESCE(OLD.link_id, 0) AND target = COALESCE(OLD.target, '')
                AND human_events = 0 AND machine_events = 0;
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND state = COALESCE((
                    SELECT l.subscriber_state FROM send_ledger AS l
                    WHERE l.campaign_id = OLD.campaign_id
                    AND l.subscriber_id = OLD.subscriber_id), '')
                AND OLD.kind IN ('delivered', 'open', 'click', 'letter_sent')
                AND OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.machine = 0);
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind AND human_people = 0;
            UPDATE stats_hourly SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0)
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND hour = CAST(OLD.at AS INTEGER) / 3600;
            DELETE FROM stats_hourly
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND hour = CAST(OLD.at AS INTEGER) / 3600
                AND human_events = 0 AND machine_events = 0;
        END;

-- table forgotten on forgotten
CREATE TABLE forgotten (
            email_hash TEXT PRIMARY KEY,
            forgotten_at TEXT NOT NULL
        ) WITHOUT ROWID;

-- table geocode_journal on geocode_journal
CREATE TABLE geocode_journal (
            id INTEGER PRIMARY KEY,
            rows TEXT NOT NULL,
            received_at TEXT NOT NULL
        );

-- table import_runs on import_runs
CREATE TABLE import_runs (
            id INTEGER PRIMARY KEY,
            file_name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            source TEXT,
            rows INTEGER NOT NULL DEFAULT 0,
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            suppressed INTEGER NOT NULL DEFAULT 0,
            warnings INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );

-- table links on links
CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            url TEXT NOT NULL,
            UNIQUE (campaign_id, url)
        );

-- index sqlite_autoindex_links_1 on links
-- (made by SQLite for a constraint)

-- table members on members
CREATE TABLE members (
            bioguide TEXT PRIMARY KEY,
            chamber TEXT NOT NULL CHECK (chamber IN ('house', 'senate')),
            state TEXT NOT NULL,
            district INTEGER,
            title TEXT NOT NULL,
            full_name TEXT NOT NULL,
            first_name TEXT,
            last_name TEXT NOT NULL,
            party TEXT,
            phone TEXT,
            contact_url TEXT,
            website TEXT,
            twitter TEXT,
            state_rank TEXT,
            senate_class INTEGER
        , term_start TEXT, term_end TEXT);

-- index members_seat on members
CREATE INDEX members_seat ON members (state, chamber, district);

-- index sqlite_autoindex_members_1 on members
-- (made by SQLite for a constraint)

-- table meta on meta
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- index sqlite_autoindex_meta_1 on meta
-- (made by SQLite for a constraint)

-- table migrations on migrations
CREATE TABLE migrations ( id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);

-- table public_letters on public_letters
CREATE TABLE public_letters (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            visitor_id INTEGER REFERENCES visitors (id),
            target TEXT NOT NULL,
            at INTEGER NOT NULL, late INTEGER NOT NULL DEFAULT 0,
            UNIQUE (campaign_id, visitor_id, target)
        );

-- index public_letters_visitor on public_letters
CREATE INDEX public_letters_visitor ON public_letters (visitor_id);

-- index sqlite_autoindex_public_letters_1 on public_letters
-- (made by SQLite for a constraint)

-- table public_visits on public_visits
CREATE TABLE public_visits (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            visitor_id INTEGER REFERENCES visitors (id),
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            views INTEGER NOT NULL,
            UNIQUE (campaign_id, visitor_id)
        );

-- index public_visits_visitor on public_visits
CREATE INDEX public_visits_visitor ON public_visits (visitor_id);

-- index sqlite_autoindex_public_visits_1 on public_visits
-- (made by SQLite for a constraint)

-- table rate_limits on rate_limits
CREATE TABLE rate_limits (
            bucket TEXT NOT NULL,
            key_hash TEXT NOT NULL,
            window_end INTEGER NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (bucket, key_hash)
        ) WITHOUT ROWID;

-- index rate_limits_window_end on rate_limits
CREATE INDEX rate_limits_window_end ON rate_limits (window_end);

-- table redrawn_states on redrawn_states
CREATE TABLE redrawn_states (
            congress INTEGER NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (congress, state)
        ) WITHOUT ROWID
        ;

-- table roster_versions on roster_versions
CREATE TABLE roster_versions (
            id INTEGER PRIMARY KEY,
            loaded_at TEXT NOT NULL,
            legislators_file TEXT NOT NULL,
            legislators_sha256 TEXT NOT NULL,
            social_file TEXT,
            social_sha256 TEXT,
            zip_file TEXT NOT NULL,
            zip_sha256 TEXT NOT NULL,
            members INTEGER NOT NULL,
            zip_rows INTEGER NOT NULL,
            changes TEXT
        , congress INTEGER, redrawn_file TEXT, redrawn_sha256 TEXT);

-- table send_ledger on send_ledger
CREATE TABLE send_ledger (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'in_flight', 'sent', 'failed', 'unknown', 'skipped')),
            message_id TEXT,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT, subscriber_state TEXT, addressed_by TEXT
            CHECK (addressed_by IN ('address', 'zip', 'chosen', 'unknown')),
            PRIMARY KEY (campaign_id, subscriber_id)
        ) WITHOUT ROWID;

-- index send_ledger_state on send_ledger
CREATE INDEX send_ledger_state ON send_ledger (campaign_id, state);

-- trigger stats_ledger_added on send_ledger
CREATE TRIGGER stats_ledger_added AFTER INSERT ON send_ledger
        WHEN COALESCE(NEW.subscriber_state, '') <> '' AND EXISTS (
            SELECT 1 FROM stats_state_totals WHERE campaign_id = NEW.campaign_id AND state = '')
        BEGIN
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = NEW.campaign_id AND state = ''
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.subscriber_id = NEW.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = NEW.campaign_id AND human_people = 0
                AND state = '';
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT NEW.campaign_id, e.kind, NEW.subscriber_state, 1
            FROM events AS e
            WHERE e.campaign_id = NEW.campaign_id AND e.subscriber_id = NEW.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
        END;

-- trigger stats_ledger_changed on send_ledger
CREATE TRIGGER stats_ledger_changed
        AFTER UPDATE OF campaign_id, subscriber_id, subscriber_state ON send_ledger
        WHEN OLD.campaign_id <> NEW.campaign_id OR OLD.subscriber_id <> NEW.subscriber_id
            OR COALESCE(OLD.subscriber_state, '') <> COALESCE(NEW.subscriber_state, '')
        BEGIN
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND state = COALESCE(OLD.subscriber_state, '')
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.subscriber_id = OLD.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND human_people = 0
                AND state = COALESCE(OLD.subscriber_state, '');
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT OLD.campaign_id, e.kind, '', 1
            FROM events AS e
            WHERE e.campaign_id = OLD.campaign_id AND e.subscriber_id = OLD.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = NEW.campaign_id AND state = ''
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.subscriber_id = NEW.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = NEW.campaign_id AND human_people = 0
                AND state = '';
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT NEW.campaign_id, e.kind, COALESCE(NEW.subscriber_state, ''), 1
            FROM events AS e
            WHERE e.campaign_id = NEW.campaign_id AND e.subscriber_id = NEW.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
        END;

-- trigger stats_ledger_removed on send_ledger
CREATE TRIGGER stats_ledger_removed AFTER DELETE ON send_ledger
        WHEN COALESCE(OLD.subscriber_state, '') <> ''
        BEGIN
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND state = OLD.subscriber_state
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.subscriber_id = OLD.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND human_people = 0
                AND state = OLD.subscriber_state;
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT OLD.campaign_id, e.kind, '', 1
            FROM events AS e
            WHERE e.campaign_id = OLD.campaign_id AND e.subscriber_id = OLD.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
        END;

-- table send_runs on send_runs
CREATE TABLE send_runs (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            sent INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            unknown INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0
        , pid INTEGER, host TEXT, outcome TEXT, message TEXT);

-- table share_clicks on share_clicks
CREATE TABLE share_clicks (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            network TEXT NOT NULL,
            day TEXT NOT NULL,
            clicks INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, network, day)
        ) WITHOUT ROWID
        ;

-- table signup_mail on signup_mail
CREATE TABLE signup_mail (
            id INTEGER PRIMARY KEY,
            signup_id INTEGER NOT NULL REFERENCES signups (id),
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'dropped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at INTEGER NOT NULL,
            claimed_at INTEGER,
            sent_at TEXT,
            message_id TEXT,
            error TEXT,
            created_at TEXT NOT NULL
        );

-- index signup_mail_due on signup_mail
CREATE INDEX signup_mail_due ON signup_mail (state, next_at)
        ;

-- table signups on signups
CREATE TABLE signups (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'confirmed', 'refused', 'expired')),
            email TEXT,
            email_key TEXT,
            first_name TEXT,
            last_name TEXT,
            street TEXT,
            city TEXT,
            state TEXT,
            zip TEXT,
            source TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            campaign TEXT,
            consent TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            confirmed_at TEXT,
            subscriber_id INTEGER REFERENCES subscribers (id),
            previous_status TEXT
        );

-- index signups_email_key on signups
CREATE INDEX signups_email_key ON signups (email_key);

-- index signups_pending_key on signups
CREATE UNIQUE INDEX signups_pending_key ON signups (email_key) WHERE status = 'pending';

-- index signups_status_expires on signups
CREATE INDEX signups_status_expires ON signups (status, expires_at);

-- table stats_detail_totals on stats_detail_totals
CREATE TABLE stats_detail_totals (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            link_id INTEGER NOT NULL,
            target TEXT NOT NULL,
            human_events INTEGER NOT NULL, machine_events INTEGER NOT NULL, human_people INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, kind, link_id, target)
        ) WITHOUT ROWID;

-- table stats_hourly on stats_hourly
CREATE TABLE stats_hourly (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            hour INTEGER NOT NULL,
            human_events INTEGER NOT NULL, machine_events INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, kind, hour)
        ) WITHOUT ROWID
        ;

-- table stats_kind_totals on stats_kind_totals
CREATE TABLE stats_kind_totals (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            human_events INTEGER NOT NULL, machine_events INTEGER NOT NULL, human_people INTEGER NOT NULL,
            people INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, kind)
        ) WITHOUT ROWID;

-- table stats_state_totals on stats_state_totals
CREATE TABLE stats_state_totals (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            human_people INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, kind, state)
        ) WITHOUT ROWID;

-- table subscriber_merges on subscriber_merges
CREATE TABLE subscriber_merges (
            merged_id INTEGER PRIMARY KEY,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers (id)
        );

-- table subscribers on subscribers
CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT COLLATE NOCASE UNIQUE,
            first_name TEXT,
            last_name TEXT,
            street TEXT,
            city TEXT,
            state TEXT,
            zip TEXT,
            phone TEXT,
            status TEXT NOT NULL DEFAULT 'subscribed' CHECK (status IN
                ('subscribed', 'unsubscribed', 'bounced', 'complained', 'forgotten')),
            source TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            extra TEXT NOT NULL DEFAULT '{}',
            consent_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            status_changed_at TEXT
        , cd_state TEXT, cd_district INTEGER, cd_confidence TEXT NOT NULL DEFAULT 'unknown'
            CHECK (cd_confidence IN ('exact', 'ambiguous', 'unknown')), cd_flags TEXT, cd_choice INTEGER, email_key TEXT, geo_block TEXT, geo_outcome TEXT
            CHECK (geo_outcome IN ('matched', 'no_match', 'tie')), geo_address_sha256 TEXT, geo_at TEXT, geo_typed INTEGER NOT NULL DEFAULT 0);

-- index sqlite_autoindex_subscribers_1 on subscribers
-- (made by SQLite for a constraint)

-- index subscribers_email_key on subscribers
CREATE UNIQUE INDEX subscribers_email_key ON subscribers (email_key);

-- index subscribers_geo_block on subscribers
CREATE INDEX subscribers_geo_block ON subscribers (geo_block) WHERE geo_block IS NOT NULL;

-- index subscribers_status on subscribers
CREATE INDEX subscribers_status ON subscribers (status);

-- trigger subscribers_address_moved on subscribers
CREATE TRIGGER subscribers_address_moved
        AFTER UPDATE OF street, city, state, zip ON subscribers
        WHEN NEW.geo_outcome IS NOT NULL AND (
            OLD.street IS NOT NEW.street OR OLD.city IS NOT NEW.city
            OR OLD.state IS NOT NEW.state OR OLD.zip IS NOT NEW.zip)
        BEGIN
            UPDATE subscribers SET geo_block = NULL, geo_outcome = NULL, geo_typed = 0
            WHERE id = NEW.id;
        END;

-- table visitors on visitors
CREATE TABLE visitors (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL UNIQUE,
            first_name TEXT,
            last_name TEXT,
            street TEXT,
            city TEXT,
            state TEXT,
            zip TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

-- index sqlite_autoindex_visitors_1 on visitors
-- (made by SQLite for a constraint)

-- table zip_districts on zip_districts
CREATE TABLE zip_districts (
            zip TEXT NOT NULL,
            state TEXT NOT NULL,
            district INTEGER NOT NULL, share REAL,
            PRIMARY KEY (zip, state, district)
        ) WITHOUT ROWID;

-- index zip_districts_seat on zip_districts
CREATE INDEX zip_districts_seat ON zip_districts (state, district);

-- table zip_maps on zip_maps
CREATE TABLE zip_maps (
            state TEXT PRIMARY KEY,
            congress INTEGER,
            source_file TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            loaded_at TEXT NOT NULL,
            roster_version INTEGER REFERENCES roster_versions (id)
        ) WITHOUT ROWID;
