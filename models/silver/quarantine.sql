{{
    config(
        materialized='incremental',
        incremental_strategy='latest_wins',
        unique_key='quarantine_id',
        meta={'latest_wins': {'order_by': ['first_seen_at']}, 'read_mark': 'recorded'},
        post_hook="{{ record_read_mark([ref('stg_shop__orders'), ref('stg_shop__payments')]) }}",
    )
}}

{#-
    Its newest row says little about how far it has read (a clean day adds none), so it
    records that in a table property (record_read_mark: macros/incremental/read_marks.sql).
-#}

{%- set staging_models = ['stg_shop__orders', 'stg_shop__payments'] %}

with

invalid as (

    {% for staging_model in staging_models -%}
        select
            kafka_topic,
            kafka_partition,
            kafka_offset,
            raw_value,
            invalid_reason,
            is_malformed,
            _ingested_at,
            ingest_date
        from {{ ref(staging_model) }}
        where not is_valid
        {% if not loop.last %}
            union all

        {% endif -%}
    {%- endfor %}

),

filtered as (

    select * from invalid
    where {{ unread_rows('first_seen_at') }}

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
    from filtered

)

select * from final
