DROP TABLE health_check;
