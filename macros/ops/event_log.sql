{#-
    The pipeline's event log, dbt's part (docs/dbt.md#the-event-log). After every build, run,
    test or seed, the on-run-end hooks (event_log_statement, a statement each) append to Delta tables in `<schema>_ops`, created on
    first use and never rewritten:
    - dbt_invocations: one row per invocation (command, target, selection, times, status and
      counts by result);
    - dbt_node_results: one row per model, seed and test result (status, rows affected
      where the adapter says, test failures, seconds, dbt's message).
    It also registers the ingest job's table of micro-batches, `<schema>_ops.ingest_batches`,
    at its path (LAKEHOUSE_INGEST_LOG_PATH, default `<bronze path>_ingest_log`, as
    ingest/config.py has it; the columns are ingest/bronze/event_log.py's COLUMNS).
    LAKEHOUSE_EVENT_LOG=false turns the log off.
-#}

{% macro event_log_enabled() %}
    {%- set value = env_var('LAKEHOUSE_EVENT_LOG', 'true') | trim | lower -%}
    {{ return(value not in ('0', 'false', 'no', 'off')) }}
{% endmacro %}


{% macro event_log_relation(name) %}
    {{ return(api.Relation.create(
        database=target.database if target.type == 'databricks' else none,
        schema=target.schema ~ '_ops',
        identifier=name,
    )) }}
{% endmacro %}


{% macro sql_literal(value) -%}
    {#- A Python value as a Spark SQL literal: strings escaped, None as null, a datetime (dbt's
        are UTC) as a timestamp. -#}
    {%- if value is none -%}
        null
    {%- elif value is string -%}
        '{{ value.replace("\\", "\\\\").replace("'", "\\'") }}'
    {%- elif value.strftime is defined -%}
        timestamp'{{ value.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00:00'
    {%- else -%}
        {{ value }}
    {%- endif -%}
{%- endmacro %}


{% macro values_row(values) -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append(sql_literal(value) | trim) -%}
    {%- endfor -%}
    ({{ literals | join(', ') }})
{%- endmacro %}


{% macro beside_bronze_path(setting, suffix) %}
    {#- A table the ingest job and dbt share, at the env var `setting`, by default beside
        bronze's folder, `<bronze path><suffix>`, as ingest/config.py has it; none when bronze
        is registered elsewhere and the setting is not set. -#}
    {%- set path = env_var(setting, '') -%}
    {%- if not path and bronze_table_parts() -%}
        {{ return(none) }}
    {%- elif not path and target.type == 'databricks' -%}
        {{ return(env_var('LAKEHOUSE_BRONZE_PATH', '').rstrip('/') ~ suffix) }}
    {%- elif not path -%}
        {{ return(env_var(
            'LAKEHOUSE_BRONZE_PATH',
            env_var('LAKEHOUSE_STATE_DIR', '.state') ~ '/bronze/kafka_events'
        ).rstrip('/') ~ suffix) }}
    {%- endif -%}
    {{ return(path) }}
{% endmacro %}


{% macro ingest_log_registration_sql() %}
    {#- The ingest job's table, registered at its path (LAKEHOUSE_INGEST_LOG_PATH, default
        `<bronze path>_ingest_log`); none when bronze is registered elsewhere and no path is
        set. -#}
    {%- set path = beside_bronze_path('LAKEHOUSE_INGEST_LOG_PATH', '_ingest_log') -%}
    {%- if not path -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return('create table if not exists ' ~ event_log_relation('ingest_batches') ~ ' (
        run_id string, batch_id bigint, batch_at timestamp, logged_at timestamp,
        input_rows bigint, dead_letters bigint, rows_per_second double,
        start_offsets string, end_offsets string, step_seconds string
    ) using delta location ' ~ sql_literal(path)) }}
{% endmacro %}


{% macro event_log_statement(results, step) %}
    {#- One statement of the log, as the SQL of one on-run-end hook (dbt_project.yml lists a
        hook per step, in this order): dbt runs it after rendering, so a failing write is that
        hook's error in run_results.json, beside the results of the models and tests, and the
        hooks after it are skipped. dbt then exits 1; the pipeline's runners go on
        (lakehouse/dbt_results.py). Empty when the log is off or the command builds nothing. -#}
    {%- set steps = [
        'schema', 'invocations_table', 'invocation', 'node_results_table', 'node_results',
        'ingest_batches',
    ] -%}
    {%- if step not in steps -%}
        {{ exceptions.raise_compiler_error('event_log_statement: no step ' ~ step ~ ', only ' ~ steps | join(', ')) }}
    {%- endif -%}
    {%- if not execute or not event_log_enabled()
        or flags.WHICH not in ('build', 'run', 'test', 'seed', 'snapshot') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set invocations = event_log_relation('dbt_invocations') -%}
    {%- set node_results = event_log_relation('dbt_node_results') -%}
    {%- if step == 'schema' -%}
        {{ return('create schema if not exists ' ~ invocations.without_identifier()) }}
    {%- elif step == 'invocations_table' -%}
        {{ return('create table if not exists ' ~ invocations ~ ' (
            invocation_id string, command string, target_name string, selection string,
            started_at timestamp, ended_at timestamp, status string, nodes int,
            succeeded int, failed int, errored int, warned int, skipped int
        ) using delta') }}
    {%- elif step == 'invocation' -%}
        {{ return('insert into ' ~ invocations ~ ' values ' ~ values_row(invocation_row(results))) }}
    {%- elif step == 'node_results_table' -%}
        {{ return('' if not results else 'create table if not exists ' ~ node_results ~ ' (
            invocation_id string, unique_id string, resource_type string, status string,
            rows_affected bigint, failures bigint, execution_seconds double,
            message string, completed_at timestamp
        ) using delta') }}
    {%- elif step == 'node_results' -%}
        {%- set values = [] -%}
        {%- for result in results -%}
            {%- do values.append(values_row(node_result_row(result))) -%}
        {%- endfor -%}
        {{ return('insert into ' ~ node_results ~ ' values ' ~ values | join(', ') if values else '') }}
    {%- else -%}
        {{ return(ingest_log_registration_sql() or '') }}
    {%- endif -%}
{% endmacro %}


{% macro invocation_row(results) %}
    {%- set statuses = results | map(attribute='status') | map('string') | list -%}
    {%- set failed = statuses | select('equalto', 'fail') | list | length -%}
    {%- set errored = statuses | select('in', ['error', 'runtime error']) | list | length -%}
    {%- set selection = invocation_args_dict.get('select') or invocation_args_dict.get('selector') -%}
    {%- if selection is not none and selection is not string -%}
        {%- set selection = selection | join(' ') -%}
    {%- endif -%}
    {{ return([
        invocation_id, flags.WHICH, target.name, selection or none, run_started_at,
        modules.datetime.datetime.now(modules.pytz.utc),
        'error' if failed or errored else 'success', statuses | length,
        statuses | select('in', ['success', 'pass']) | list | length, failed, errored,
        statuses | select('equalto', 'warn') | list | length,
        statuses | select('equalto', 'skipped') | list | length,
    ]) }}
{% endmacro %}


{% macro node_result_row(result) %}
    {%- set completed = result.timing | map(attribute='completed_at') | reject('none') | list -%}
    {{ return([
        invocation_id, result.node.unique_id, result.node.resource_type | string,
        result.status | string, (result.adapter_response or {}).get('rows_affected'),
        result.failures, result.execution_time, (result.message or '')[:500] or none,
        completed[-1] if completed else none,
    ]) }}
{% endmacro %}
