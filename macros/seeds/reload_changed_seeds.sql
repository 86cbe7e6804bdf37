{#-
    Seeds on Spark, loaded only when they change.

    dbt-spark's seed drops its table, creates it again and inserts every row on every build:
    three statements for reference data that rarely changes, the first things a build runs
    (staging waits on `currencies`), and a moment when the table does not exist for a reader
    in another process. This materialization loads a seed as dbt-spark does (its
    create_csv_table and load_csv_rows), then stamps the table with the seed's fingerprint
    (its file's sha256, its column types and its name) in one last commit. A later build
    reads the table's newest commit (one `describe history`): if it is that stamp with the
    same fingerprint, nothing has been written since, and the seed is left alone ("UNCHANGED",
    no statement more). Anything else reloads it: a changed file or column type, a write to
    the table by anyone (an `update` by hand, a restore), a seed dbt gives no content
    checksum for (files over 1 MiB: it checksums their path), a seed not in Delta, or
    `--full-refresh`.
-#}

{% materialization seed, adapter='spark' %}

    {%- set full_refresh_mode = should_full_refresh() -%}
    {%- set old_relation = adapter.get_relation(
        database=database, schema=schema, identifier=model['alias']
    ) -%}
    {%- if old_relation is not none and old_relation.is_view -%}
        {{ exceptions.raise_compiler_error("Cannot seed to '" ~ old_relation ~ "', it is a view") }}
    {%- endif -%}
    {%- set agate_table = load_agate_table() -%}
    {%- do store_result('agate_table', response='OK', agate_table=agate_table) -%}
    {%- set fingerprint = seed_fingerprint(model) -%}
    {%- set unchanged = old_relation is not none and not full_refresh_mode
        and seed_stamp_is_newest(old_relation, fingerprint) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if unchanged -%}
        {%- call noop_statement('main', 'UNCHANGED', 'UNCHANGED', 0) -%}
            -- {{ this }} holds seed fingerprint {{ fingerprint }} already: nothing to load
        {%- endcall -%}
    {%- else -%}
        {%- if old_relation is not none -%}
            {%- do adapter.drop_relation(old_relation) -%}
        {%- endif -%}
        {%- set create_sql = create_csv_table(model, agate_table) -%}
        {%- set rows = agate_table.rows | length -%}
        {%- set insert_sql = load_csv_rows(model, agate_table) if rows > 0 else '' -%}
        {%- if fingerprint is not none -%}
            {%- call statement('stamp') -%}
                alter table {{ this }} set tblproperties ('lakehouse.seed_fingerprint' = '{{ fingerprint }}')
            {%- endcall -%}
        {%- endif -%}
        {%- set code = 'CREATE' if full_refresh_mode else 'INSERT' -%}
        {%- call noop_statement('main', code ~ ' ' ~ rows, code, rows) -%}
            {{ get_csv_sql(create_sql, insert_sql) }};
        {%- endcall -%}
    {%- endif -%}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- do apply_grants(
        target_relation, config.get('grants'),
        should_revoke=should_revoke(old_relation, full_refresh_mode)
    ) -%}
    {%- do persist_docs(target_relation, model) -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{% macro seed_fingerprint(seed) -%}
    {#- What the seed's table is loaded from: its file's content and how it is typed. None
        when dbt checksums the file's path, not its content, or the table is not Delta (no
        history to read). -#}
    {%- if seed.checksum.name != 'sha256' or seed.config.get('file_format') != 'delta' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set typing = tojson({
        'column_types': seed.config.get('column_types', {}),
        'quote_columns': seed.config.get('quote_columns'),
    }, sort_keys=true) -%}
    {{ return(local_md5(seed.checksum.checksum ~ '|' ~ typing ~ '|' ~ this)) }}
{%- endmacro %}


{% macro seed_stamp_is_newest(relation, fingerprint) -%}
    {#- True when the table's newest commit is the stamp of `fingerprint`: loaded from the
        same seed, and not written to since. -#}
    {%- if fingerprint is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set newest = run_query('describe history ' ~ relation ~ ' limit 1') -%}
    {%- if newest.rows | length == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set commit = newest.rows[0] -%}
    {{ return(commit['operation'] == 'SET TBLPROPERTIES'
        and fingerprint in (commit['operationParameters'] | string)) }}
{%- endmacro %}
