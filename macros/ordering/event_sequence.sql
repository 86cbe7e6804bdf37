{#-
    The ordering rule's sequence (docs/design.md): by event time, equal times by event_id. The
    silver models' "newest" (desc) and the status histories' order (asc) both come from here.
-#}

{% macro event_sequence(direction='asc') -%}
    {%- if direction not in ('asc', 'desc') -%}
        {{ exceptions.raise_compiler_error("event_sequence: direction is asc or desc, got " ~ direction) }}
    {%- endif -%}
    event_at {{ direction }}, event_id {{ direction }}
{%- endmacro %}
