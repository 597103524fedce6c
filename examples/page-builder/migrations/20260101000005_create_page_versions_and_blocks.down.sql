DROP TABLE blocks;
DROP TABLE page_versions;
