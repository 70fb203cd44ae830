DROP TABLE IF EXISTS staged_files;
