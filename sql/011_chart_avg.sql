-- 011_chart_avg.sql — the IoTFlow dashboard calls the mean "avg": a chart
-- keeps the word it was given (lib/chart reads both as the mean).
ALTER TABLE charts DROP CONSTRAINT charts_aggregation_check;
ALTER TABLE charts ADD CONSTRAINT charts_aggregation_check
    CHECK (aggregation IN ('none', 'mean', 'avg', 'sum', 'count', 'min', 'max', 'first', 'last'));
