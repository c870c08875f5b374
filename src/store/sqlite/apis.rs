//! [`ApiStore`] on SQLite: the `apis` and `client_apis` tables (migration 0011); scopes are
//! JSON arrays.

use super::{SqliteStore, backend, col, from_json, to_json};
use crate::model::{AccessTokenFormat, Api, ClientApi};
use crate::store::{ApiStore, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

fn api_from_row(row: &SqliteRow) -> StoreResult<Api> {
    let format: String = col(row, "token_format")?;
    Ok(Api {
        identifier: col(row, "identifier")?,
        name: col(row, "name")?,
        scopes: from_json(&col::<String>(row, "scopes")?)?,
        access_token_ttl: col(row, "access_token_ttl")?,
        token_format: format
            .parse::<AccessTokenFormat>()
            .map_err(StoreError::Corrupt)?,
        created_at: col(row, "created_at")?,
    })
}

#[async_trait]
impl ApiStore for SqliteStore {
    async fn create_api(&self, api: &Api) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO apis (identifier, name, scopes, access_token_ttl, token_format, \
             created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(api.identifier.as_str())
        .bind(api.name.as_str())
        .bind(to_json(&api.scopes)?)
        .bind(api.access_token_ttl)
        .bind(api.token_format.as_str())
        .bind(api.created_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn api(&self, identifier: &str) -> StoreResult<Option<Api>> {
        let row = sqlx::query(
            "SELECT identifier, name, scopes, access_token_ttl, token_format, created_at \
             FROM apis WHERE identifier = ?",
        )
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(api_from_row).transpose()
    }

    async fn list_apis(&self) -> StoreResult<Vec<Api>> {
        let rows = sqlx::query(
            "SELECT identifier, name, scopes, access_token_ttl, token_format, created_at \
             FROM apis ORDER BY created_at, identifier",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(api_from_row).collect()
    }

    async fn delete_api(&self, identifier: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query("DELETE FROM apis WHERE identifier = ?")
            .bind(identifier)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM client_apis WHERE api = ?")
            .bind(identifier)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn allow_client_api(&self, allowed: &ClientApi) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO client_apis (client_id, api, scopes) VALUES (?, ?, ?) \
             ON CONFLICT (client_id, api) DO UPDATE SET scopes = excluded.scopes",
        )
        .bind(allowed.client_id.as_str())
        .bind(allowed.api.as_str())
        .bind(to_json(&allowed.scopes)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn client_apis(&self, client_id: &str) -> StoreResult<Vec<ClientApi>> {
        let rows = sqlx::query(
            "SELECT client_id, api, scopes FROM client_apis WHERE client_id = ? ORDER BY api",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(ClientApi {
                    client_id: col(row, "client_id")?,
                    api: col(row, "api")?,
                    scopes: from_json(&col::<String>(row, "scopes")?)?,
                })
            })
            .collect()
    }
}
