{% macro pipeline_report() %}
    {#-
        `dbt run-operation pipeline_report` (make demo prints it): rows per layer, bronze by
        topic, format and schema, what was quarantined and why, what the newest incremental
        merges read and wrote, one order's status history, the event log's last dbt runs and
        ingest batches, and the top of daily_revenue. Plain SQL on whichever target dbt runs.
    -#}
    {%- set bronze = source('bronze', 'kafka_events') -%}
    {%- set layers = [
        ('bronze', bronze),
        ('silver', ref('int_event_first_deliveries')),
        ('silver', ref('orders')),
        ('silver', ref('payments')),
        ('silver', ref('order_items')),
        ('silver', ref('quarantine')),
        ('gold', ref('fct_orders')),
        ('gold', ref('daily_revenue')),
        ('gold', ref('dim_customers')),
        ('silver', ref('order_status_history')),
        ('gold', ref('fulfillment_daily')),
    ] -%}
    {%- set counts = [] -%}
    {%- for layer, relation in layers -%}
        {%- do counts.append(
            "select '" ~ layer ~ "' as layer, '" ~ relation ~ "' as table_name, count(*) as row_count from " ~ relation
        ) -%}
    {%- endfor -%}
    {{ print('\nRows per layer') }}
    {% do run_query(counts | join(' union all ')).print_table(max_column_width=50) %}

    {{ print('\nBronze by topic and wire format: the schema ids and contract versions seen') }}
    {% do run_query(
        "select topic, coalesce(value_format, 'json') as format, schema_id, "
        ~ "get_json_object(value, '$.schema_version') as schema_version, count(*) as records "
        ~ "from " ~ bronze ~ " group by all order by all"
    ).print_table(max_rows=20, max_column_width=30) %}

    {{ print('\nQuarantined records by reason (is_malformed: also dead-lettered by ingest)') }}
    {% do run_query(
        "select regexp_replace(invalid_reason, ':.*', '') as reason, is_malformed, count(*) as records "
        ~ "from " ~ ref('quarantine') ~ " group by all order by records desc"
    ).print_table(max_rows=15, max_column_width=50) %}

    {{ print('\nThe newest write to each incremental table') }}
    {{ print('| model                | version | operation                         | rows read | inserted | updated | deleted |') }}
    {%- for model in ['orders', 'payments', 'order_items', 'order_status_history', 'quarantine', 'fct_orders', 'dim_customers', 'daily_revenue', 'fulfillment_daily'] %}
        {#- The newest write: constraint and property changes write no data. -#}
        {%- set writes = [] -%}
        {%- for entry in run_query('describe history ' ~ ref(model) ~ ' limit 10').rows -%}
            {%- if entry['operation'] not in ('ADD CONSTRAINT', 'SET TBLPROPERTIES') -%}
                {%- do writes.append(entry) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set newest = writes[0] -%}
        {%- set metrics = fromjson(newest['operationMetrics'] or '{}') -%}
        {{ print('| %-20s | %7s | %-33s | %9s | %8s | %7s | %7s |' | format(
            model,
            newest['version'],
            newest['operation'],
            metrics.get('numSourceRows', metrics.get('numOutputRows', '-')),
            metrics.get('numTargetRowsInserted', '-'),
            metrics.get('numTargetRowsUpdated', metrics.get('numTargetRowsMatchedUpdated', '-')),
            metrics.get('numTargetRowsDeleted', '-'),
        )) }}
    {%- endfor %}

    {{ print('\nStatus history by event time: the order with the most changes') }}
    {%- set history = ref('order_status_history') %}
    {% do run_query(
        "select order_id, status, previous_status, valid_from, valid_to, is_current from "
        ~ history ~ " where order_id = (select order_id from " ~ history
        ~ " group by order_id order by count(*) desc, order_id limit 1)"
        ~ " order by valid_from, opened_by_event_id"
    ).print_table(max_column_width=24) %}

    {{ print('\nThe event log (' ~ event_log_relation('dbt_invocations').without_identifier() ~ '): the last dbt runs and ingest batches') }}
    {%- if event_log_enabled() %}
    {% do run_query(
        "select command, target_name, status, nodes, succeeded, failed, errored, skipped, ended_at from "
        ~ event_log_relation('dbt_invocations') ~ " order by ended_at desc limit 3"
    ).print_table(max_column_width=24) %}
    {% do run_query(
        "select batch_id, batch_at, input_rows, dead_letters, round(rows_per_second) as rows_per_second from "
        ~ event_log_relation('ingest_batches') ~ " order by batch_at desc limit 3"
    ).print_table(max_column_width=24) %}
    {%- else %}
    {{ print('off (LAKEHOUSE_EVENT_LOG)') }}
    {%- endif %}

    {{ print('\nTop of daily_revenue') }}
    {% do run_query(
        "select * from " ~ ref('daily_revenue') ~ " order by order_date desc limit 5"
    ).print_table(max_column_width=20) %}
{% endmacro %}
