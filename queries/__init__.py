"""SQL relations run by DuckDB over the dataset tables; read through contagion.resources."""
