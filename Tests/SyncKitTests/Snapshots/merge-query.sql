MERGE `my-project.crm.contacts` AS _bqsync_target
USING (
SELECT _bqsync_row.`id` AS `id`, _bqsync_row.`day` AS `day`, _bqsync_row.`name` AS `name`, _bqsync_row.`raw` AS `raw`, _bqsync_row.`score` AS `score`, _bqsync_row.`amount` AS `amount`, _bqsync_row.`big` AS `big`, _bqsync_row.`ok` AS `ok`, _bqsync_row.`local` AS `local`, _bqsync_row.`clock` AS `clock`, _bqsync_row.`at` AS `at`, _bqsync_row.`payload` AS `payload`, _bqsync_row.`gone` AS `gone` FROM (
SELECT * FROM `my-project.raw.contacts_export`
) AS _bqsync_row
WHERE _bqsync_row.`id` IS NOT NULL AND _bqsync_row.`day` IS NOT NULL
QUALIFY ROW_NUMBER() OVER (PARTITION BY _bqsync_row.`id`, _bqsync_row.`day` ORDER BY _bqsync_row.`at` DESC, _bqsync_row.`name` DESC, _bqsync_row.`raw` DESC, _bqsync_row.`score` DESC, _bqsync_row.`amount` DESC, _bqsync_row.`big` DESC, _bqsync_row.`ok` DESC, _bqsync_row.`local` DESC, _bqsync_row.`clock` DESC, _bqsync_row.`gone` DESC) = 1
) AS S
ON _bqsync_target.`id` = S.`id` AND _bqsync_target.`day` = S.`day`
WHEN MATCHED AND COALESCE(S.`gone`, FALSE) AND (_bqsync_target.`at` IS NULL OR S.`at` >= _bqsync_target.`at`) THEN DELETE
WHEN MATCHED AND (_bqsync_target.`at` IS NULL OR S.`at` >= _bqsync_target.`at`) THEN UPDATE SET `name` = S.`name`, `raw` = S.`raw`, `score` = S.`score`, `amount` = S.`amount`, `big` = S.`big`, `ok` = S.`ok`, `local` = S.`local`, `clock` = S.`clock`, `at` = S.`at`, `payload` = S.`payload`
WHEN NOT MATCHED AND NOT COALESCE(S.`gone`, FALSE) THEN INSERT (`id`, `day`, `name`, `raw`, `score`, `amount`, `big`, `ok`, `local`, `clock`, `at`, `payload`) VALUES (S.`id`, S.`day`, S.`name`, S.`raw`, S.`score`, S.`amount`, S.`big`, S.`ok`, S.`local`, S.`clock`, S.`at`, S.`payload`)
