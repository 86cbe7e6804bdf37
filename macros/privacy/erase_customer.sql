{#-
    Erasure of a customer's personal data, everywhere (docs/design.md#erasure):

      dbt run-operation erase_customer --args '{customer_id: c_00042, requested_by: ticket-981}'

    `make erase CUSTOMER=c_00042 BY=ticket-981` runs it, then builds gold; the
    lakehouse_erasure DAG does the same with params. In order:

    1. records the erasure in `<schema>_ops.erasures` (a Delta table beside bronze,
       LAKEHOUSE_ERASURES_PATH): the salted hashes of the customer's id and e-mail addresses
       (found in bronze), never the id or an address. The ingest
       job reads it each micro-batch, so events of this customer that are still in Kafka (a
       replay, a reset checkpoint, a late event) land in bronze already anonymized;
    2. rewrites bronze as the ingest job lands the customer's events from then on
       (anonymized_text): in each event whose customer_id field is theirs, in whatever shape
       (the malformed too), the id becomes `erased` and the address an empty string, and in
       another customer's event that carries one of their addresses, the address; the Avro
       bytes as they came (`value_bytes`) are dropped. The event stays: it still counts in
       every aggregate;
    3. rewrites each table's personal columns (column meta `personal_data`): `customer_id` to
       `erased`, `email_hash` to the hash of an empty address, `raw_event` (quarantine's
       payload) as bronze; a model with meta `erasure: delete_rows` (dim_customers, one row per
       customer) loses the customer's row instead, and the next build adds it to `erased`;
       one with meta `erasure: rederive` (int_order_deliveries, staging's rows kept) first
       takes its rows that name the customer from its parent again, parsed from the rewritten
       bronze (payload digests included);
    4. recomputes, from staging, the digests int_event_first_deliveries keeps of the
       rewritten events' first deliveries (a digest of the event as it was is one of personal
       data, and quarantine would flag the rewritten event read again as a conflict);
    5. vacuums the rewritten tables at once (VACUUM LITE, RETAIN 0 HOURS: only the files the
       rewrite removed, never an ingest job's files still being written), so no version of
       them can be read back in time;
    6. records what it did, table by table (rows rewritten), beside step 1's row.

    Every rewrite is a MERGE on the rows' keys, from a view: Delta writes the merge's join
    condition in its log, never the id, and the tables keep no statistics on personal columns
    (their `delta.dataSkippingStatsColumns`), so no file under the warehouse holds the id or
    an e-mail address in clear. Safe to run again: a second run finds nothing to rewrite.
-#}

{% macro erased_customer_id() %}{{ return('erased') }}{% endmacro %}


{% macro customer_id_hash(customer_id) -%}
    {#- What the erasure record keeps of the id: its salted hash (the salt of hash_email). The ingest
        job computes the same (ingest/bronze/erasures.py). -#}
    sha2(concat('customer:', {{ customer_id }}, '{{ env_var("LAKEHOUSE_EMAIL_SALT", "lakehouse-dev-salt") }}'), 256)
{%- endmacro %}


{% macro erasures_relation() %}
    {{ return(event_log_relation('erasures')) }}
{% endmacro %}


{% macro erasures_registration_sql() %}
    {#- The record of erasures, at its path (by default beside bronze's folder,
        `<bronze path>_erasures`, as ingest/config.py has it), registered as
        `<schema>_ops.erasures`. -#}
    {%- set path = beside_bronze_path('LAKEHOUSE_ERASURES_PATH', '_erasures') -%}
    {%- if not path -%}
        {{ exceptions.raise_compiler_error(
            "erasure: bronze is registered elsewhere (LAKEHOUSE_BRONZE_TABLE): set "
            ~ "LAKEHOUSE_ERASURES_PATH, where the ingest job reads the record of erasures") }}
    {%- endif -%}
    {{ return('create table if not exists ' ~ erasures_relation() ~ ' (
        erasure_id string, customer_id_hash string, email_hashes array<string>, step string,
        requested_by string, logged_at timestamp, rows_rewritten string
    ) using delta location ' ~ sql_literal(path)) }}
{% endmacro %}


{% macro personal_tables() %}
    {#- [relation, unique key, {column: kind}, erasure, the ids of the models and seeds it
        reads] of each model with personal columns (column meta personal_data) that exists. -#}
    {%- set found = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='name') -%}
        {%- set columns = {} -%}
        {%- for column in node.columns.values() if (column.meta or {}).get('personal_data') -%}
            {%- do columns.update({column.name: column.meta.personal_data}) -%}
        {%- endfor -%}
        {%- if node.resource_type == 'model' and node.package_name == project_name and columns -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation is not none -%}
                {%- do found.append([relation, node.config.unique_key, columns,
                    (node.config.meta or {}).get('erasure', 'rewrite'),
                    node.depends_on.nodes | select('in', graph.nodes) | list]) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro text_without(text, customer_id, emails) -%}
    {#- A raw event's text with the customer's id and e-mail addresses, as JSON strings, replaced. -#}
    {%- set text = namespace(sql="replace(" ~ text ~ ", " ~ sql_literal('"' ~ customer_id ~ '"')
        ~ ", " ~ sql_literal('"' ~ erased_customer_id() ~ '"') ~ ")") -%}
    {%- for email in emails -%}
        {%- set text.sql = "replace(" ~ text.sql ~ ", " ~ sql_literal('"' ~ email ~ '"') ~ ", '\"\"')" -%}
    {%- endfor -%}
    {{ text.sql }}
{%- endmacro %}


{% macro json_string_field(text, name) -%}
    {#- A JSON string field's value found by pattern, so in broken JSON too ('' when absent):
        the ingest job's FIELD (ingest/bronze/erasures.py). -#}
    regexp_extract({{ text }}, '"{{ name }}"\\s*:\\s*"([^"\\\\]*)"', 1)
{%- endmacro %}


{% macro anonymized_text(text, id_hash, email_hashes) -%}
    {#- A raw event as the ingest job lands it for the erased customers (anonymized() in
        ingest/bronze/erasures.py, the same rule): the id in its customer_id field becomes
        `erased` when it is the erased one's, and the address in its customer_email field an
        empty string when it is an erased one's or the id was. So a replayed event lands byte
        for byte as the erasure left it. -#}
    {%- set customer = "nullif(" ~ json_string_field(text, 'customer_id') ~ ", '')" -%}
    {%- set email = json_string_field(text, 'customer_email') -%}
    {%- set id_is_erased = "coalesce(" ~ customer_id_hash(customer) ~ " = " ~ sql_literal(id_hash) ~ ", false)" -%}
    {%- set email_is_erased = "coalesce(" ~ hash_email(email) ~ " in (" ~ (email_hashes | join(', ') if email_hashes else 'null') ~ "), false)" -%}
    {%- set without_id = "case when " ~ id_is_erased ~ " then replace(" ~ text ~ ", concat('\"', "
        ~ customer ~ ", '\"'), " ~ sql_literal('"' ~ erased_customer_id() ~ '"') ~ ") else " ~ text ~ " end" -%}
    case when ({{ id_is_erased }} or {{ email_is_erased }}) and {{ email }} != ''
        then replace({{ without_id }}, concat('"', {{ email }}, '"'), '""')
        else {{ without_id }}
    end
{%- endmacro %}


{% macro names_the_customer(text, customer_id, emails, quote='"') -%}
    {#- The text holds the id or an address (as JSON strings, or bare: quote=''). -#}
    {%- set needles = [quote ~ customer_id ~ quote] -%}
    {%- for email in emails -%}{%- do needles.append(quote ~ email ~ quote) -%}{%- endfor -%}
    ({%- for needle in needles -%}instr({{ text }}, {{ sql_literal(needle) }}) > 0{{ ' or ' if not loop.last }}{%- endfor -%})
{%- endmacro %}


{% macro merge_rewrite(relation, keys, source_sql, assignments) %}
    {#- A MERGE of `assignments` (or a delete) into `relation` for the rows `source_sql` keys:
        the log holds the join condition only. The count of rows it changed. -#}
    {%- set view = 'lakehouse_erasure_rows' -%}
    {%- do run_query('create or replace temporary view ' ~ view ~ ' as ' ~ source_sql) -%}
    {%- set count = run_query('select count(*) from ' ~ view).columns[0].values()[0] -%}
    {%- if count > 0 -%}
        {%- set on = [] -%}
        {%- for key in keys -%}{%- do on.append('t.' ~ adapter.quote(key) ~ ' = s.' ~ adapter.quote(key)) -%}{%- endfor -%}
        {%- set action = 'delete' if assignments is none else 'update set ' ~ assignments -%}
        {%- do run_query('merge into ' ~ relation ~ ' as t using ' ~ view ~ ' as s on '
            ~ on | join(' and ') ~ ' when matched then ' ~ action) -%}
    {%- endif -%}
    {{ return(count) }}
{% endmacro %}


{% macro naming_the_customer(relation, columns, customer_id, emails, email_hashes=[]) -%}
    {#- The condition that finds `relation`'s rows naming the customer, by its personal columns
        ({column: kind}): the id, or the id or an address in a raw payload; with
        `email_hashes`, also the hash of one of their addresses. -#}
    {%- set matches = [] -%}
    {%- for column, kind in columns.items() -%}
        {%- if kind == 'customer_id' -%}
            {%- do matches.append(column ~ ' = ' ~ sql_literal(customer_id)) -%}
        {%- elif kind == 'email_hash' -%}
            {%- if email_hashes -%}
                {%- do matches.append(column ~ ' in (' ~ email_hashes | join(', ') ~ ')') -%}
            {%- endif -%}
        {%- elif kind == 'raw_event' -%}
            {%- do matches.append(names_the_customer(column, customer_id, emails)) -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error(relation ~ '.' ~ column ~ ': personal_data '
                ~ kind ~ ' is none of customer_id, email_hash, raw_event') }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(matches | join(' or ')) }}
{%- endmacro %}


{% macro rederive(relation, parents, columns, customer_id, emails, email_hashes) %}
    {#- A model with meta `erasure: rederive` keeps its one parent's rows as they were parsed
        (int_order_deliveries: staging's, read once per build): its rows that name the
        customer take the parent's rows again, which read the rewritten bronze, where they
        differ. The count of rows rewritten. -#}
    {%- set parent = graph.nodes[parents[0]] if parents | length == 1 else none -%}
    {%- set parent = adapter.get_relation(parent.database, parent.schema, parent.alias) if parent else none -%}
    {%- if parent is none -%}
        {{ exceptions.raise_compiler_error(relation ~ ': meta erasure rederive needs one parent model, built') }}
    {%- endif -%}
    {%- set keys = delivery_key().split(',') | map('trim') | list -%}
    {%- set named = naming_the_customer(relation, columns, customer_id, emails, email_hashes) -%}
    {%- if not named -%}
        {{ return(0) }}  {#- no column names a customer: nothing to take again -#}
    {%- endif -%}
    {%- set on = [] -%}
    {%- for key in keys -%}{%- do on.append('s.' ~ key ~ ' = named.' ~ key) -%}{%- endfor -%}
    {%- set same = [] -%}
    {%- set assignments = [] -%}
    {%- for column in adapter.get_columns_in_relation(parent) | map(attribute='name') if column not in keys -%}
        {%- do same.append('s.' ~ adapter.quote(column) ~ ' <=> named.' ~ adapter.quote(column)) -%}
        {%- do assignments.append('t.' ~ adapter.quote(column) ~ ' = s.' ~ adapter.quote(column)) -%}
    {%- endfor -%}
    {{ return(merge_rewrite(relation, keys,
        'select s.* from ' ~ parent ~ ' as s join (select * from ' ~ relation ~ ' where '
        ~ named ~ ') as named on ' ~ on | join(' and ')
        ~ ' where not (' ~ same | join(' and ') ~ ')',
        assignments | join(', '))) }}
{% endmacro %}


{% macro erase_customer(customer_id, requested_by) %}
    {%- set customer_id = (customer_id | string) | trim -%}
    {%- if not customer_id or customer_id == erased_customer_id() or '"' in customer_id -%}
        {{ exceptions.raise_compiler_error(
            "erase_customer: customer_id " ~ (customer_id or "''") ~ " is not a customer id") }}
    {%- endif -%}
    {%- if not (requested_by | string | trim) -%}
        {{ exceptions.raise_compiler_error(
            "erase_customer: say who asks (requested_by: a ticket, a person), for the record") }}
    {%- endif -%}
    {%- set erasure_id = modules.datetime.datetime.now(modules.pytz.utc).strftime('%Y%m%dT%H%M%S') ~ '-' ~ invocation_id[:8] -%}
    {%- set hashed = run_query('select ' ~ customer_id_hash(sql_literal(customer_id))).columns[0].values()[0] -%}

    {#- Bronze, and the customer's e-mail addresses, from their events. -#}
    {%- for statement in bronze_registration_sql() -%}
        {%- do run_query(statement) -%}  {#- a run-operation runs no on-run-start hook -#}
    {%- endfor -%}
    {%- set bronze = source('bronze', 'kafka_events') -%}
    {%- set append_only = run_query('show tblproperties ' ~ bronze ~ " ('delta.appendOnly')") -%}
    {%- if append_only.rows and (append_only.rows[0][-1] | string | lower) == 'true' -%}
        {#- A bronze table of an older release; the ingest job also lifts it when it starts. -#}
        {%- do run_query('alter table ' ~ bronze ~ " set tblproperties ('delta.appendOnly' = 'false')") -%}
    {%- endif -%}
    {%- set emails = run_query("select distinct get_json_object(value, '$.customer_email') from "
        ~ bronze ~ " where get_json_object(value, '$.customer_id') = " ~ sql_literal(customer_id)
        ~ " and get_json_object(value, '$.customer_email') is not null").columns[0].values() | reject('equalto', '') | list -%}
    {#- 1. The record, before any rewrite: from here on the ingest job anonymizes the events
        that carry the customer's id or one of their addresses (by their salted hashes). -#}
    {%- set email_hashes = [] -%}
    {%- for email in emails -%}
        {%- do email_hashes.append(sql_literal(run_query('select ' ~ hash_email(sql_literal(email))).columns[0].values()[0])) -%}
    {%- endfor -%}
    {%- set log_row = "insert into " ~ erasures_relation() ~ " values (" ~ sql_literal(erasure_id)
        ~ ", " ~ sql_literal(hashed) ~ ", cast(array(" ~ email_hashes | join(', ') ~ ") as array<string>), '{step}', "
        ~ sql_literal(requested_by | string | trim) ~ ", current_timestamp(), {rows})" -%}
    {%- do run_query('create schema if not exists ' ~ erasures_relation().without_identifier()) -%}
    {%- do run_query(erasures_registration_sql()) -%}
    {%- do run_query(log_row.replace('{step}', 'requested').replace('{rows}', 'null')) -%}
    {{ log('erasure ' ~ erasure_id ~ ': recorded; the ingest job anonymizes new events of the customer', info=true) }}

    {#- 2. Bronze: every event that names the id or an address, rewritten; two passes, back to
        back, for a batch that committed meanwhile (docs/design.md#erasure). -#}
    {%- set rewritten = {} -%}
    {%- set bronze_rows = [] -%}
    {%- set assignments = ['t.value = s.value'] -%}
    {%- set anonymized = anonymized_text('value', hashed, email_hashes) -%}
    {%- set names_them = ['(' ~ anonymized ~ ') != value'] -%}
    {%- if 'value_bytes' in adapter.get_columns_in_relation(bronze) | map(attribute='name') | list -%}
        {%- do assignments.append('t.value_bytes = cast(null as binary)') -%}
        {#- An Avro record that could not be decoded has no value: its bytes hold the strings bare. -#}
        {%- do names_them.append('(value is null and ' ~ names_the_customer('cast(value_bytes as string)', customer_id, emails, quote='') ~ ')') -%}
    {%- endif -%}
    {%- for attempt in range(2) -%}
        {#- The coordinates and _ingested_at: after a replay (a reset checkpoint) bronze holds a
            record twice, and a MERGE refuses two source rows for one target row. -#}
        {%- do bronze_rows.append(merge_rewrite(bronze, ['topic', 'partition', 'offset', '_ingested_at'],
            'select topic, `partition`, `offset`, _ingested_at, ' ~ anonymized
            ~ ' as value from ' ~ bronze ~ ' where ' ~ names_them | join(' or '),
            assignments | join(', '))) -%}
    {%- endfor -%}
    {%- do rewritten.update({bronze | string: bronze_rows | sum}) -%}
    {{ log('erasure ' ~ erasure_id ~ ': ' ~ bronze_rows | sum ~ ' bronze events rewritten', info=true) }}

    {#- 3. The personal columns of silver and gold. -#}
    {%- set tables = personal_tables() -%}
    {%- for relation, key, columns, erasure, parents in tables if erasure == 'rederive' -%}
        {%- do rewritten.update({relation | string: rederive(relation, parents, columns, customer_id, emails, email_hashes)}) -%}
        {{ log('erasure ' ~ erasure_id ~ ': ' ~ relation ~ ' ' ~ rewritten[relation | string] ~ ' rows parsed again', info=true) }}
    {%- endfor -%}
    {%- for relation, key, columns, erasure, parents in tables if erasure != 'rederive' -%}
        {#- Matched by id or raw payload only: another customer's row keeps the hash of an
            erased address until a full refresh (docs/design.md#erasure). -#}
        {%- set named = naming_the_customer(relation, columns, customer_id, emails) -%}
        {%- set assignments = [] -%}
        {%- for column, kind in columns.items() -%}
            {%- if kind == 'customer_id' -%}
                {%- do assignments.append(column ~ ' = ' ~ sql_literal(erased_customer_id())) -%}
            {%- elif kind == 'email_hash' -%}
                {%- do assignments.append(column ~ ' = ' ~ hash_email("''")) -%}
            {%- elif kind == 'raw_event' -%}
                {#- naming_the_customer refused any other kind. -#}
                {%- do assignments.append(column ~ ' = s.' ~ column) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set raw = columns.items() | selectattr(1, 'equalto', 'raw_event') | map(attribute=0) | list -%}
        {%- set select = [key] -%}
        {%- for column in raw -%}
            {%- do select.append(text_without(column, customer_id, emails) ~ ' as ' ~ column) -%}
        {%- endfor -%}
        {%- set count = merge_rewrite(relation, [key],
            'select ' ~ select | join(', ') ~ ' from ' ~ relation ~ ' where ' ~ named,
            none if erasure == 'delete_rows' else assignments | join(', ')) -%}
        {%- do rewritten.update({relation | string: count}) -%}
        {{ log('erasure ' ~ erasure_id ~ ': ' ~ relation ~ ' ' ~ count ~ (' rows deleted' if erasure == 'delete_rows' else ' rows rewritten'), info=true) }}
    {%- endfor -%}

    {#- 4. The digests of first deliveries: int_event_first_deliveries keeps a digest of each
        event as first delivered, and quarantine compares every later delivery with it. A
        rewritten event read again (the lookback, a replay from Kafka) would be a conflicting
        duplicate of itself, and a digest of the event as it was is one of personal data: the
        rewritten events' digests are recomputed, as staging now computes them. -#}
    {%- set deliveries = load_relation(ref('int_event_first_deliveries')) -%}
    {%- if deliveries is not none -%}
        {%- set count = merge_rewrite(deliveries, ['kafka_topic', 'kafka_partition', 'kafka_offset'],
            'select s.kafka_topic, s.kafka_partition, s.kafka_offset, s.payload_hash from '
            ~ ref('stg_shop__orders') ~ ' as s join ' ~ deliveries ~ ' as d using (event_id, '
            ~ 'kafka_topic, kafka_partition, kafka_offset, _ingested_at) where (s.customer_id = '
            ~ sql_literal(erased_customer_id()) ~ ' or s.customer_email_hash = ' ~ hash_email("''")
            ~ ') and s.payload_hash != d.payload_hash',
            't.payload_hash = s.payload_hash') -%}
        {%- do rewritten.update({deliveries | string: count}) -%}
        {{ log('erasure ' ~ erasure_id ~ ': ' ~ deliveries ~ ' ' ~ count ~ ' digests recomputed', info=true) }}
    {%- endif -%}

    {#- 5. The old files, at once. -#}
    {%- do run_query('set spark.databricks.delta.retentionDurationCheck.enabled = false') -%}
    {%- for relation, count in rewritten.items() if count > 0 -%}
        {%- do run_query('vacuum ' ~ relation ~ ' lite retain 0 hours') -%}
    {%- endfor -%}
    {%- do run_query('set spark.databricks.delta.retentionDurationCheck.enabled = true') -%}

    {#- 6. What it did. -#}
    {%- do run_query(log_row.replace('{step}', 'done').replace('{rows}', sql_literal(tojson(rewritten)))) -%}
    {{ log('erasure ' ~ erasure_id ~ ': done, ' ~ tojson(rewritten), info=true) }}
{% endmacro %}
