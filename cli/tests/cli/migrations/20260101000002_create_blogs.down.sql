DROP TABLE blogs;
