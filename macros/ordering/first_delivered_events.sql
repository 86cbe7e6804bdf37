{#-
    The ordering rule's first step (docs/design.md), for a silver model that reads one
    deliveries model (staging's rows, kept: int_order_deliveries): its valid rows that the
    model has not read yet (unread_rows(mark_column)), each event_id once, at its first
    delivery as int_event_first_deliveries recorded it: its Kafka coordinates and its
    `_ingested_at`, since a reset checkpoint lands the same record again (same coordinates, a
    later batch). The model then orders them by event time, then event_id.
-#}

{% macro first_delivered_events(deliveries_relation, first_deliveries_relation, mark_column, unread=none) -%}
    {#- `unread`: unread_rows(mark_column) when the caller has it already (one read-mark query). -#}
    {%- set unread = unread if unread is not none else unread_rows(mark_column) -%}
    select events.* from (
        select * from {{ deliveries_relation }}
        where is_valid and {{ unread }}
    ) as events
    left semi join (
        select kafka_topic, kafka_partition, kafka_offset, _ingested_at
        from {{ first_deliveries_relation }}
        where {{ unread }}
    ) as first_deliveries
        on
            events.kafka_topic = first_deliveries.kafka_topic
            and events.kafka_partition = first_deliveries.kafka_partition
            and events.kafka_offset = first_deliveries.kafka_offset
            and events._ingested_at = first_deliveries._ingested_at
{%- endmacro %}
