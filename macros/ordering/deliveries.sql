{#-
    The deliveries models (int_order_deliveries, int_payment_deliveries): staging's rows kept,
    one per delivery of a Kafka record into bronze (docs/dbt.md#checked-once).
-#}

{% macro delivery_id() -%}
    {#- A delivery: the record's coordinates and the micro-batch that landed it (a replay lands
        a record again, under a later _ingested_at). -#}
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
                and held.kafka_topic = {{ deliveries }}.kafka_topic
                and held.kafka_partition = {{ deliveries }}.kafka_partition
                and held.kafka_offset = {{ deliveries }}.kafka_offset
                and held._ingested_at = {{ deliveries }}._ingested_at
        )
    {%- endif -%}
{%- endmacro %}
