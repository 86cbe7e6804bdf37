"""What every part of the project shares, at the bottom of the imports: `ingest`, `services`,
`dags` and `bench` import from here, and nothing here imports them."""
