{#-
    The deliveries models (int_order_deliveries, int_payment_deliveries): staging's rows kept,
    one per delivery of a Kafka record into bronze (docs/dbt.md#checked-once).
-#}

{% macro delivery_key() -%}
    {#- A delivery: the record's coordinates and the micro-batch that landed it (a replay lands
        a record again, under a later _ingested_at). The columns, comma-separated: callers
        split them (a macro that returned a list would not render in sqlfluff's templater). -#}
    kafka_topic, kafka_partition, kafka_offset, _ingested_at
{%- endmacro %}


{% macro delivery_id() -%}
    {#- The delivery key as one string; the batch's time as microseconds, whatever the session's
        time zone. -#}
    concat_ws('/', kafka_topic, kafka_partition, kafka_offset, unix_micros(_ingested_at))
{%- endmacro %}


{% macro not_held_yet(deliveries, unread) -%}
    {#- The filter on `deliveries` (staging rows past the read mark, less the lookback) that
        leaves out what this model holds already: only its rows of the same window are read. -#}
    {%- if is_incremental() -%}
        where not exists (
            select 1 from {{ this }} as held
            where
                {{ unread }}
                {%- for key in delivery_key().split(',') | map('trim') %}
                    and held.{{ key }} = {{ deliveries }}.{{ key }}
                {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}
