-- Dot products over the vector index's real[] embeddings (no pgvector here). The vector
-- index stores L2-normalised vectors, so a dot product is their cosine similarity.
-- PL/pgSQL loops: faster per row than SQL-language versions built on unnest or
-- generate_subscripts (figures in src/archive/index/VectorIndex.ts). The high COST tells
-- the planner each call is expensive, so a scan of many rows gets a parallel plan.
-- Both return NULL when the stored vector's length is not the query's (a vector from an
-- earlier model). Run with search_path set to the archive's schema.

-- a · b.
CREATE FUNCTION dot_product(a real[], b real[]) RETURNS double precision
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 10000
AS $$
DECLARE
  total double precision := 0;
BEGIN
  IF array_length(a, 1) IS DISTINCT FROM array_length(b, 1) THEN
    RETURN NULL;
  END IF;
  FOR i IN 1 .. coalesce(array_length(a, 1), 0) LOOP
    total := total + a[i] * b[i];
  END LOOP;
  RETURN total;
END
$$;

-- a · b for a sparse b of length `dimensions`, given as its non-zero components: 1-based
-- positions and their values. Loops over those only, which pays when a query vector has
-- few non-zero components.
CREATE FUNCTION sparse_dot_product(a real[], dimensions integer, positions integer[], vals real[])
  RETURNS double precision
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 10000
AS $$
DECLARE
  total double precision := 0;
BEGIN
  IF array_length(a, 1) IS DISTINCT FROM dimensions THEN
    RETURN NULL;
  END IF;
  FOR k IN 1 .. coalesce(array_length(positions, 1), 0) LOOP
    total := total + a[positions[k]] * vals[k];
  END LOOP;
  RETURN total;
END
$$;
