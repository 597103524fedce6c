DROP INDEX pages_published_idx;
