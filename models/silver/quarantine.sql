{#- No statistics on personal columns: docs/design.md#erasure. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='latest_wins',
        unique_key='quarantine_id',
        on_schema_change='append_new_columns',
        tblproperties={'delta.dataSkippingStatsColumns': (
            'quarantine_id,kafka_topic,kafka_partition,kafka_offset,invalid_reason,'
            'first_seen_at'
        )},
        meta={
            'latest_wins': {'order_by': ['first_seen_at'], 'keep_least': ['first_seen_at']},
            'read_mark': 'recorded',
        },
        post_hook=(
            "{{ record_read_mark([ref('int_order_deliveries'), ref('int_payment_deliveries')],"
            " 'first_seen_at') }}"
        ),
    )
}}

{#-
    Two kinds of record: those that break the contract, and conflicts, a later delivery of an
    event_id whose payload differs from its first delivery (which silver keeps). Its newest
    row says little about how far it has read (a clean day adds none), so it records that in
    a table property (record_read_mark: macros/incremental/read_marks.sql). A record that
    bronze holds twice (a reset checkpoint lands it again) is quarantined once, when first seen.
-#}

{%- set delivery_models = ['int_order_deliveries', 'int_payment_deliveries'] %}

with

deliveries as (

    {% for delivery_model in delivery_models -%}
        select
            event_id,
            payload_hash,
            is_valid,
            kafka_topic,
            kafka_partition,
            kafka_offset,
            raw_value,
            invalid_reason,
            is_malformed,
            _ingested_at,
            ingest_date
        from {{ ref(delivery_model) }}
        {% if not loop.last %}
            union all

        {% endif -%}
    {%- endfor %}

),

first_deliveries as (

    select * from {{ ref('int_event_first_deliveries') }}

),

unread as (

    select * from deliveries
    where {{ unread_rows('first_seen_at') }}

),

invalid as (

    select * from unread
    where not is_valid

),

conflicts as (

    select
        unread.kafka_topic,
        unread.kafka_partition,
        unread.kafka_offset,
        unread.raw_value,
        concat(
            'conflicting duplicate: event_id delivered before with another payload (kept: ',
            first_deliveries.kafka_topic, '/', first_deliveries.kafka_partition, '/',
            first_deliveries.kafka_offset, ')'
        ) as invalid_reason,
        unread.is_malformed,
        unread._ingested_at
    from unread
    inner join first_deliveries on unread.event_id = first_deliveries.event_id
    where unread.is_valid and unread.payload_hash != first_deliveries.payload_hash

),

quarantined as (

    select
        kafka_topic,
        kafka_partition,
        kafka_offset,
        raw_value,
        invalid_reason,
        is_malformed,
        _ingested_at
    from invalid
    union all
    select * from conflicts

),

first_sightings as (

    select
        *,
        row_number() over (
            partition by kafka_topic, kafka_partition, kafka_offset
            order by _ingested_at asc
        ) as sighting_rank
    from quarantined

),

final as (

    select
        concat(kafka_topic, '/', kafka_partition, '/', kafka_offset) as quarantine_id,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        invalid_reason,
        is_malformed,
        raw_value,
        _ingested_at as first_seen_at
    from first_sightings
    where sighting_rank = 1

)

select * from final
