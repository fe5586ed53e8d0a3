DROP TABLE drinks;
DROP TABLE devices;
DROP TABLE merchants;
