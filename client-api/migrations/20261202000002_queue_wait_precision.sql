-- How finely queue_wait_ms is known: 'ns' (the x-published-at-ns header) or 's' (only the AMQP
-- timestamp property, whole seconds). NULL with a NULL queue_wait_ms: the message carried no
-- publish time, so the wait is unknown rather than a fake 0.
ALTER TABLE submissions ADD COLUMN queue_wait_precision TEXT;
