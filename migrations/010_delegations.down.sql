DROP TABLE IF EXISTS delegations;
