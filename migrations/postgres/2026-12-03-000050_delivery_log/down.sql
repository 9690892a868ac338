DROP TABLE delivery_activity;
DROP TABLE deliveries;
